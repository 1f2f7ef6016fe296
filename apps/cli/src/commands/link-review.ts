import type { Command } from "commander";
import pg from "pg";
import { PortcullisError } from "@portcullis/db/errors";
import { explainConnectionError, findTeam, listLinkApprovers, normalizeEmail, replayStatements, setLinkApprovers } from "@portcullis/db/operations";
import { pinTargetSession, type TargetConnectionRow } from "@portcullis/db/target";
import { openTargetRoute, type TargetRoute } from "@portcullis/db/target-route";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { actingMember } from "./acting.js";
import { readScope } from "./scope-file.js";
import { findLink } from "./resolve.js";

type LinkOptions = OutputOptions & { team: string; link: string };

/**
 * The link's target catalog, loaded the way the gateway loads it: its route (direct or through its SSH
 * hops), the operator's target policy, the session pinned.
 */
async function targetCatalog(row: TargetConnectionRow & { name: string }) {
  const { loadCatalog } = await import("@portcullis/policy");
  let route: TargetRoute | undefined;
  let client: pg.Client | undefined;
  try {
    route = await openTargetRoute(row);
    client = new pg.Client(route.config);
    client.on("error", () => {});
    await client.connect();
    await pinTargetSession(client);
    return await loadCatalog(client);
  } catch (error) {
    throw new PortcullisError("unavailable", `could not read the tables of "${row.name}": ${explainConnectionError(error, row)}`);
  } finally {
    await client?.end().catch(() => {});
    await route?.close();
  }
}

interface Group {
  ruleId: string;
  calls: number;
  statements: number;
  examples: { sql: string; calls: number; reason: string }[];
}

function groupLines(title: string, groups: Group[]): string[] {
  if (!groups.length) return [];
  const lines = [`${title}:`];
  for (const g of groups) {
    lines.push(`  ${g.ruleId}: ${g.calls} call(s), ${g.statements} statement(s)`);
    for (const e of g.examples) lines.push(`    ${e.calls}×  ${e.sql.replace(/\s+/g, " ").slice(0, 120)}\n        ${e.reason}`);
  }
  return lines;
}

export function registerLinkReviewCommands(link: Command): void {
  link
    .command("approvers")
    .description("list a link's approvers, or replace them with --set (owners and admins approve on every link)")
    .requiredOption("--team <slug|id>")
    .requiredOption("--link <name|id>")
    .option("--set <emails>", 'comma-separated member e-mail addresses ("" for none)')
    .option("--as <email>", "the member making the change (recorded in the audit trail)")
    .option("--json", "print JSON")
    .action(async (options: LinkOptions & { set?: string; as?: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, options.link);
        let approvers;
        if (options.set !== undefined) {
          const emails = [...new Set(options.set.split(",").map((e) => normalizeEmail(e)).filter(Boolean))];
          const actor = options.as ? await actingMember(team.id, options.as) : null;
          const users = await db().user.findMany({ where: { email: { in: emails } }, select: { id: true, email: true } });
          const unknown = emails.filter((e) => !users.some((u) => u.email === e));
          if (unknown.length) throw new PortcullisError("not_found", `no such user: ${unknown.join(", ")}`);
          approvers = await setLinkApprovers(db(), { teamId: team.id, linkId: row.id, userIds: users.map((u) => u.id), actorUserId: actor?.id ?? null, via: "cli" });
        } else {
          approvers = await listLinkApprovers(db(), { teamId: team.id, linkId: row.id });
        }
        emit(options, { link: { id: row.id, name: row.name }, approvers }, () =>
          approvers.length ? approvers.map((a) => `${a.email}  ${a.role}`).join("\n") : `no named approvers on ${row.name} (owners and admins approve)`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
  link
    .command("replay")
    .description("what a draft scope would change for the statements the link ran recently (nothing is executed)")
    .requiredOption("--team <slug|id>")
    .requiredOption("--link <name|id>")
    .requiredOption("--scope <file>", "the draft scope document (JSON)")
    .option("--days <n>", "how far back (1-90)", "7")
    .option("--json", "print the ReplayReport as JSON")
    .action(async (options: LinkOptions & { scope: string; days: string }) => {
      try {
        const days = Number(options.days);
        if (!Number.isInteger(days) || days < 1 || days > 90) throw new PortcullisError("invalid_input", `--days takes a whole number from 1 to 90, got ${JSON.stringify(options.days)}`);
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, options.link);
        const { createPolicyChecker, parseScope, replayScope } = await import("@portcullis/policy");
        const draft = parseScope(await readScope(options.scope));
        const current = parseScope(row.scope);
        if (!draft.ok) throw new PortcullisError("invalid_input", "the draft scope is not valid");
        if (!current.ok) throw new PortcullisError("invalid_input", `the link's current scope is not valid: ${current.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
        // With its SSH hops: a connection behind a bastion must never be dialled directly instead.
        const connection = await db().connection.findFirst({ where: { id: row.connectionId, teamId: team.id }, include: { sshHops: { orderBy: { position: "asc" } } } });
        if (!connection) throw new PortcullisError("not_found", "the link's connection is gone");
        const [catalog, statements] = await Promise.all([
          targetCatalog(connection as unknown as TargetConnectionRow & { name: string }),
          replayStatements(db(), { teamId: team.id, linkId: row.id, days }),
        ]);
        // A checker of its own: the replay checks each text twice and must not share anyone's cache.
        const report = replayScope({ checker: createPolicyChecker({ cacheSize: 0 }), catalog, current: current.scope, draft: draft.scope, statements });
        emit(options, report, () =>
          [
            `replayed ${report.statements} statement(s), ${report.calls} call(s) of the last ${days} day(s) on ${row.name} in ${Math.round(report.durationMs)} ms`,
            ...groupLines("would be blocked", report.becameBlocked),
            ...groupLines("would be allowed", report.becameAllowed),
            ...groupLines("blocked by another rule", report.ruleChanged),
            ...groupLines("approval changes", report.approvalChanged),
            `unchanged: ${report.unchanged} call(s)`,
          ].join("\n"),
        );
      } catch (error) {
        fail(options, error);
      }
    });
}
