import type { Command } from "commander";
import { ACCESS_GRANT_STATUSES, decideAccessGrant, findTeam, listAccessGrants, revokeAccessGrant, type AccessGrantListItem } from "@portcullis/db/operations";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { actingMember, idArgument, listOption, textOption } from "./acting.js";
import { findLink } from "./resolve.js";

type TeamOptions = OutputOptions & { team: string };

const line = (g: AccessGrantListItem) =>
  `${g.id}  ${g.status.padEnd(8)}  ${g.userEmail}  ${g.access} on ${g.tableKey}  link ${g.linkName}${g.databaseLabel ? `  database ${g.databaseLabel}` : ""}  ${g.minutes} min` +
  (g.expiresAt && g.status === "granted" ? `  until ${g.expiresAt.toISOString()}` : "") +
  `\n  why: ${g.reason}`;

export function registerAccessCommands(program: Command): void {
  const access = program.command("access").description("time-boxed access requests and grants (elevation)");
  access
    .command("list")
    .requiredOption("--team <slug|id>")
    .option("--link <name|id>")
    .option("--status <status,…>", `filter: ${ACCESS_GRANT_STATUSES.join(", ")}`)
    .option("--json", "print JSON")
    .action(async (options: TeamOptions & { link?: string; status?: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const link = options.link ? await findLink(team.id, options.link) : undefined;
        const status = listOption(options.status, ACCESS_GRANT_STATUSES, "--status");
        const rows = await listAccessGrants(db(), { teamId: team.id, linkId: link?.id, status });
        emit(options, { grants: rows }, () => rows.map(line).join("\n") || "no access requests");
      } catch (error) {
        fail(options, error);
      }
    });
  const decide = (decision: "grant" | "refuse") => async (id: string, options: TeamOptions & { as: string; comment?: string }) => {
    try {
      const team = await findTeam(db(), options.team);
      const grantId = idArgument(id, "the access request");
      const comment = textOption(options.comment, "--comment");
      const actor = await actingMember(team.id, options.as);
      const row = await decideAccessGrant(db(), { teamId: team.id, id: grantId, deciderId: actor.id, decision, comment, via: "cli" });
      emit(options, { grant: row }, () =>
        decision === "grant" ? `granted ${row.access} on ${row.tableKey} until ${row.expiresAt?.toISOString()} (as ${actor.email})` : `refused ${row.id} (as ${actor.email})`,
      );
    } catch (error) {
      fail(options, error);
    }
  };
  for (const decision of ["grant", "refuse"] as const) {
    access
      .command(`${decision} <id>`)
      .description(decision === "grant" ? "grant a pending access request (it starts now and lapses after its minutes)" : "refuse a pending access request")
      .requiredOption("--team <slug|id>")
      .requiredOption("--as <email>", "the member deciding (must be allowed to approve on the link)")
      .option("--comment <text>")
      .option("--json", "print JSON")
      .action(decide(decision));
  }
  access
    .command("revoke <id>")
    .description("end a grant in force now")
    .requiredOption("--team <slug|id>")
    .requiredOption("--as <email>", "the member revoking")
    .option("--json", "print JSON")
    .action(async (id: string, options: TeamOptions & { as: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const grantId = idArgument(id, "the access grant");
        const actor = await actingMember(team.id, options.as);
        const row = await revokeAccessGrant(db(), { teamId: team.id, id: grantId, revokerId: actor.id, via: "cli" });
        emit(options, { grant: row }, () => `revoked ${row.access} on ${row.tableKey} for ${row.userId} (as ${actor.email})`);
      } catch (error) {
        fail(options, error);
      }
    });
}
