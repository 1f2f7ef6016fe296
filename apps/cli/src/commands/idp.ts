import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { findTeam } from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import { REVOCATION_CHANNEL } from "@portcullis/jobs";
import { addIdentityProvider, listIdentityProviders, removeIdentityProvider } from "@portcullis/oauth";
import { db, publish } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * `portcullis idp add|list|remove`: the enterprise identity providers a team trusts for ID-JAGs
 * (MCP enterprise-managed authorization). The same operations as the dashboard's settings section:
 * input parsed there (https JWKS URI or public keys only, exact issuer), changes recorded as config
 * changes via the CLI, tokens issued through a removed provider revoked and broadcast.
 */
export function registerIdpCommands(program: Command): void {
  const idp = program.command("idp").description("manage trusted enterprise identity providers (ID-JAG)");
  idp
    .command("add")
    .description("trust an identity provider's ID-JAGs for a team")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>")
    .requiredOption("--issuer <url>", "exactly as the assertions' iss")
    .option("--jwks-uri <url>", "https URL of the provider's public keys")
    .option("--jwks-file <path>", "a JSON file with the provider's public keys (instead of --jwks-uri)")
    .requiredOption("--client <client_id>", "an OAuth client id allowed to redeem (repeat for more)", collect)
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string; name: string; issuer: string; jwksUri?: string; jwksFile?: string; client: string[] }) => {
      try {
        const team = await findTeam(db(), options.team);
        let jwks: string | undefined;
        if (options.jwksFile) {
          jwks = await readFile(options.jwksFile, "utf8").catch(() => {
            throw new PortcullisError("invalid_input", `cannot read ${options.jwksFile}`);
          });
        }
        const provider = await addIdentityProvider(db(), { teamId: team.id, actorUserId: null, via: "cli" }, {
          name: options.name,
          issuer: options.issuer,
          ...(options.jwksUri ? { jwksUri: options.jwksUri } : {}),
          ...(jwks !== undefined ? { jwks } : {}),
          allowedClientIds: options.client,
        });
        emit(options, { identityProvider: provider }, () => `trusted ${provider.name} (${provider.id}) for ${team.slug}: issuer ${provider.issuer}`);
      } catch (error) {
        fail(options, error);
      }
    });
  idp
    .command("list")
    .description("list a team's trusted identity providers")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const providers = await listIdentityProviders(db(), team.id);
        emit(options, { identityProviders: providers }, () =>
          providers.length
            ? providers.map((p) => `${p.id}  ${p.name}  ${p.issuer}  keys: ${p.jwksUri ?? `${p.inlineKeyIds.length} inline`}  clients: ${p.allowedClientIds.join(", ")}`).join("\n")
            : `no identity providers in ${team.slug}`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
  idp
    .command("remove")
    .description("stop trusting an identity provider; tokens issued through it are revoked")
    .argument("<id>")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (id: string, options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const { provider, revokedGrantIds } = await removeIdentityProvider(db(), { teamId: team.id, actorUserId: null, via: "cli" }, id);
        let broadcast = true;
        for (const grantId of revokedGrantIds) {
          await publish(REVOCATION_CHANNEL, { kind: "oauth_grant", grantId }).catch((error: Error) => {
            broadcast = false;
            process.stderr.write(`warning: ${error.message}\n`);
          });
          if (!broadcast) break;
        }
        emit(options, { removed: provider.id, revokedGrants: revokedGrantIds.length, broadcast }, () => `removed ${provider.name} (${provider.id}); ${revokedGrantIds.length} grant(s) revoked`);
      } catch (error) {
        fail(options, error);
      }
    });
}
