import type { Command } from "commander";
import { addMember, createTeam, findTeam } from "@portcullis/db/operations";
import { findUserByEmail } from "@portcullis/db/operations";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";

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
        const created = await createTeam(db(), {
          name: options.name,
          slug: options.slug,
          plan: options.plan as "free" | "team" | "self_hosted",
          ownerId: owner?.id,
        });
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
    .option("--role <role>", "owner | admin | member | viewer", "member")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string; email: string; role: string }) => {
      try {
        if (!["owner", "admin", "member", "viewer"].includes(options.role)) throw new Error(`unknown role "${options.role}"`);
        const t = await findTeam(db(), options.team);
        const user = await findUserByEmail(db(), options.email);
        const membership = await addMember(db(), { teamId: t.id, userId: user.id, role: options.role as "member" });
        emit(options, { membership }, () => `${user.email} is now ${membership.role} of ${t.slug}`);
      } catch (error) {
        fail(options, error);
      }
    });
}
