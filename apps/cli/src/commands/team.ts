import type { Command } from "commander";
import { z } from "zod";
import { Role } from "@portcullis/db/client";
import { addMember, createTeam, findTeam, slugify } from "@portcullis/db/operations";
import { findUserByEmail } from "@portcullis/db/operations";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";

const ROLES = Object.values(Role);
const roleSchema = z.enum(Role, { error: () => `unknown role; one of ${ROLES.join(" | ")}` });
/** The roles that use links; moving someone out of them takes their keys and OAuth grants at once. */
const LINK_ROLES: readonly Role[] = ["owner", "admin", "member"];

export function registerTeamCommands(program: Command): void {
  const team = program.command("team").description("manage teams");
  team
    .command("create")
    .description("create a team")
    .requiredOption("--name <name>", "display name")
    .option("--slug <slug>", "URL slug (derived from the name when omitted)")
    .option("--plan <plan>", "free | team | self_hosted", "self_hosted")
    .option("--owner <email>", "make this existing user the owner")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { name: string; slug?: string; plan: string; owner?: string }) => {
      try {
        if (!["free", "team", "self_hosted"].includes(options.plan)) throw new Error(`unknown plan "${options.plan}"`);
        const owner = options.owner ? await findUserByEmail(db(), options.owner) : undefined;
        // A failed insert aborts the transaction, so a derived slug is made free before it (createTeam's
        // retry-on-conflict cannot run inside one).
        const slug = options.slug ?? (await freeSlug(options.name));
        const created = await audited(
          (tx) => createTeam(tx, { name: options.name, slug, plan: options.plan as "free" | "team" | "self_hosted", ownerId: owner?.id }),
          (t) => [
            { teamId: t.id, action: "team.create", target: { type: "team", id: t.id, name: t.slug }, after: { name: t.name, slug: t.slug, plan: t.plan } },
            ...(owner
              ? [{ teamId: t.id, action: "member.add", target: { type: "user", id: owner.id, name: owner.email }, after: { role: "owner" } }]
              : []),
          ],
        );
        emit(options, { team: created }, () => `created team ${created.slug} (${created.id})`);
      } catch (error) {
        fail(options, error);
      }
    });
  team
    .command("add-member")
    .description("add an existing user to a team with a role")
    .requiredOption("--team <slug|id>")
    .requiredOption("--email <email>")
    .option("--role <role>", `${ROLES.join(" | ")} (auditor: reads and exports all activity, changes nothing, holds no keys)`, "member")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string; email: string; role: string }) => {
      try {
        const parsed = roleSchema.safeParse(options.role);
        if (!parsed.success) throw new Error(`unknown role "${options.role}"; one of ${ROLES.join(" | ")}`);
        const role = parsed.data;
        const t = await findTeam(db(), options.team);
        const user = await findUserByEmail(db(), options.email);
        const previous = await db().membership.findUnique({ where: { teamId_userId: { teamId: t.id, userId: user.id } } });
        const membership = await audited(
          async (tx) => {
            const m = await addMember(tx, { teamId: t.id, userId: user.id, role });
            // As the dashboard does: a viewer or auditor holds no keys, grants or (auditor) link access.
            // Gateways learn of the revocations from PostgreSQL's notification on commit.
            if (previous && LINK_ROLES.includes(previous.role) && !LINK_ROLES.includes(role)) {
              const now = new Date();
              await tx.apiKey.updateMany({ where: { teamId: t.id, userId: user.id, revokedAt: null }, data: { revokedAt: now } });
              const grants = await tx.oAuthGrant.findMany({ where: { teamId: t.id, userId: user.id, revokedAt: null }, select: { id: true } });
              await tx.oAuthToken.updateMany({ where: { grantId: { in: grants.map((g) => g.id) }, revokedAt: null }, data: { revokedAt: now } });
              await tx.oAuthGrant.updateMany({ where: { id: { in: grants.map((g) => g.id) } }, data: { revokedAt: now } });
              await tx.linkApprover.deleteMany({ where: { userId: user.id, link: { teamId: t.id } } });
            }
            if (role === "auditor") await tx.linkAccess.deleteMany({ where: { userId: user.id, link: { teamId: t.id } } });
            return m;
          },
          (m) => [
            {
              teamId: t.id,
              action: previous ? "member.role.update" : "member.add",
              target: { type: "user", id: user.id, name: user.email },
              before: previous ? { role: previous.role } : undefined,
              after: { role: m.role },
            },
          ],
        );
        emit(options, { membership }, () => `${user.email} is now ${membership.role} of ${t.slug}`);
      } catch (error) {
        fail(options, error);
      }
    });
}

async function freeSlug(name: string): Promise<string> {
  const base = slugify(name);
  for (let attempt = 0; attempt < 20; attempt++) {
    const slug = attempt === 0 ? base : `${base}-${attempt + 1}`;
    if (!(await db().team.findUnique({ where: { slug }, select: { id: true } }))) return slug;
  }
  return `${base}-${Date.now().toString(36)}`;
}
