import type { Command } from "commander";
import { createApiKey, findTeam, findUserByEmail, revokeApiKey, isUuid } from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import { REVOCATION_CHANNEL } from "@portcullis/jobs";
import { audited } from "../audited.js";
import { db, publish } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { findLink, parseDuration } from "./resolve.js";

function publicKey<T extends { hash: string }>(row: T): Omit<T, "hash"> {
  const { hash: _hash, ...rest } = row;
  return rest;
}

export function registerKeyCommands(program: Command): void {
  const key = program.command("key").description("manage API keys");
  key
    .command("create")
    .description("issue a key for a member on a link (printed once, stored hashed)")
    .requiredOption("--team <slug|id>")
    .requiredOption("--link <name|id>")
    .requiredOption("--user <email>", "the member who will hold the key")
    .option("--name <name>", "a label, e.g. the machine it is for", "cli")
    .option("--expires-in <duration>", "e.g. 12h, 30d, 4w")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string; link: string; user: string; name: string; expiresIn?: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const link = await findLink(team.id, options.link);
        const user = await findUserByEmail(db(), options.user);
        const expiresAt = options.expiresIn ? parseDuration(options.expiresIn) : null;
        const { key: clear, record } = await audited(
          (tx) => createApiKey(tx, { teamId: team.id, linkId: link.id, userId: user.id, name: options.name, expiresAt }),
          ({ record: r }) => [
            {
              teamId: team.id,
              action: "api_key.create",
              target: { type: "api_key", id: r.id, name: r.name },
              after: { prefix: r.prefix, linkId: r.linkId, userId: r.userId, expiresAt: r.expiresAt },
            },
          ],
        );
        emit(options, { key: clear, apiKey: publicKey(record) }, () =>
          `issued key ${record.prefix}… (${record.id}) for ${user.email} on ${link.name}\n\n  ${clear}\n\nIt is shown only now; store it in the client's config.`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
  key
    .command("revoke")
    .description("revoke a key at once on every gateway")
    .argument("<key>", "key id or visible prefix (pcs_xxxxxxxx)")
    .option("--team <slug|id>", "only within this team")
    .option("--json", "print JSON")
    .action(async (idOrPrefix: string, options: OutputOptions & { team?: string }) => {
      try {
        const team = options.team ? await findTeam(db(), options.team) : undefined;
        const found = await db().apiKey.findFirst({
          where: {
            ...(isUuid(idOrPrefix) ? { id: idOrPrefix } : { prefix: idOrPrefix.replace(/…$/, "") }),
            ...(team ? { teamId: team.id } : {}),
          },
        });
        if (!found) throw new PortcullisError("not_found", `no key "${idOrPrefix}"`);
        let broadcast = true;
        // Revoked and recorded in one transaction; gateways are told only after it commits (told
        // before, one could re-read the key while it still looks active and cache it again).
        const revoked = await audited(
          (tx) => revokeApiKey(tx, { apiKeyId: found.id }),
          (r) =>
            found.revokedAt
              ? []
              : [
                  {
                    teamId: r.teamId,
                    action: "api_key.revoke",
                    target: { type: "api_key", id: r.id, name: r.name },
                    before: { revokedAt: null },
                    after: { revokedAt: r.revokedAt },
                  },
                ],
        );
        await publish(REVOCATION_CHANNEL, { kind: "api_key", apiKeyId: found.id, hash: found.hash }).catch((error: Error) => {
          broadcast = false;
          process.stderr.write(`warning: ${error.message}\n`);
        });
        emit(options, { apiKey: publicKey(revoked), broadcast }, () => `revoked ${revoked.prefix}… (${revoked.id})`);
      } catch (error) {
        fail(options, error);
      }
    });
  key
    .command("list")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const rows = await db().apiKey.findMany({
          where: { teamId: team.id },
          include: { user: { select: { email: true } }, link: { select: { name: true } } },
          orderBy: { createdAt: "asc" },
        });
        emit(options, { keys: rows.map(publicKey) }, () =>
          rows
            .map((r) => `${r.id}  ${r.prefix}…  ${r.link.name}  ${r.user.email}  ${r.revokedAt ? "revoked" : r.expiresAt && r.expiresAt < new Date() ? "expired" : "active"}`)
            .join("\n") || "no keys",
        );
      } catch (error) {
        fail(options, error);
      }
    });
}
