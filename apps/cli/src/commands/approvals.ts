import type { Command } from "commander";
import { PortcullisError } from "@portcullis/db/errors";
import {
  decideWriteRequest,
  findTeam,
  getWriteRequest,
  listWriteRequests,
  WRITE_REQUEST_STATUSES,
  type WriteRequestRow,
} from "@portcullis/db/operations";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { actingMember, idArgument, listOption, textOption } from "./acting.js";
import { findLink } from "./resolve.js";

type TeamOptions = OutputOptions & { team: string };

interface Preview {
  command?: string;
  affected?: number | null;
  table?: string | null;
  columns?: string[];
  before?: unknown[][];
  after?: unknown[][];
  notes?: string[];
}

const cell = (v: unknown) => (v === null || v === undefined ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v));

function previewLines(preview: unknown): string[] {
  const p = (preview ?? {}) as Preview;
  const lines = [`  preview: ${p.command ?? "?"} on ${p.table ?? "(no table)"}, ${p.affected == null ? "unknown number of" : p.affected} row(s) affected`];
  const columns = Array.isArray(p.columns) ? p.columns : [];
  for (const [label, rows] of [
    ["before", p.before],
    ["after", p.after],
  ] as const) {
    if (!Array.isArray(rows) || rows.length === 0) continue;
    lines.push(`  ${label}:  ${columns.join(" | ")}`);
    for (const row of rows) lines.push(`           ${(Array.isArray(row) ? row : []).map(cell).join(" | ")}`);
  }
  for (const note of Array.isArray(p.notes) ? p.notes : []) lines.push(`  note: ${note}`);
  return lines;
}

/** "  database ledger" when the link has several databases or the request names one (attack finding 2). */
const onDatabase = (label: string | null | undefined) => (label ? `  database ${label}` : "");

function describe(r: WriteRequestRow & { linkName?: string; requesterEmail?: string | null; deciderEmail?: string | null; databaseLabel?: string | null }): string {
  const lines = [
    `${r.id}  ${r.status}  ${r.kind} (${r.mode})  link ${r.linkName ?? r.linkId}${onDatabase(r.databaseLabel)}`,
    `  asked by ${r.requesterEmail ?? r.userId ?? "a key"} at ${r.createdAt.toISOString()}; expires ${r.expiresAt.toISOString()}`,
    `  why: ${r.reason}`,
    `  sql: ${r.sql}`,
  ];
  if (r.params.length) lines.push(`  params: ${JSON.stringify(r.params)}`);
  if (r.decidedAt) lines.push(`  decided by ${r.deciderEmail ?? r.decidedBy ?? "?"} at ${r.decidedAt.toISOString()}${r.decisionComment ? `: ${r.decisionComment}` : ""}`);
  if (r.executeBefore && r.status === "approved") lines.push(`  execute before ${r.executeBefore.toISOString()}`);
  if (r.error) lines.push(`  error: ${r.error}`);
  return lines.join("\n");
}

async function showOne(teamId: string, id: string) {
  const row = await getWriteRequest(db(), { teamId, id });
  if (!row) throw new PortcullisError("not_found", "write request not found in this team");
  const emails = await db().user.findMany({ where: { id: { in: [row.userId, row.decidedBy].filter((x): x is string => !!x) } }, select: { id: true, email: true } });
  const link = await db().link.findFirst({ where: { id: row.linkId, teamId }, select: { name: true, databaseName: true, _count: { select: { databases: true } } } });
  const email = (id: string | null) => emails.find((e) => e.id === id)?.email ?? null;
  const databaseLabel = row.databaseName ?? (link && link._count.databases > 0 ? link.databaseName : null);
  return { ...row, linkName: link?.name ?? row.linkId, requesterEmail: email(row.userId), deciderEmail: email(row.decidedBy), databaseLabel };
}

export function registerApprovalCommands(program: Command): void {
  const approvals = program.command("approvals").description("write requests waiting for (or given) a person's decision");
  approvals
    .command("list")
    .requiredOption("--team <slug|id>")
    .option("--status <status,…>", `filter: ${WRITE_REQUEST_STATUSES.join(", ")}`)
    .option("--link <name|id>")
    .option("--limit <n>", "at most this many (1-500)", "100")
    .option("--json", "print JSON")
    .action(async (options: TeamOptions & { status?: string; link?: string; limit: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const status = listOption(options.status, WRITE_REQUEST_STATUSES, "--status");
        const link = options.link ? await findLink(team.id, options.link) : undefined;
        const limit = Number(options.limit);
        const rows = await listWriteRequests(db(), { teamId: team.id, status, linkId: link?.id, limit });
        emit(options, { requests: rows }, () => rows.map((r) => `${r.id}  ${r.status.padEnd(9)}  ${r.kind.padEnd(8)}  ${r.linkName}${r.databaseLabel ? `/${r.databaseLabel}` : ""}  ${r.requesterEmail ?? "-"}  ${r.createdAt.toISOString()}  ${r.sql.replace(/\s+/g, " ").slice(0, 80)}`).join("\n") || "no write requests");
      } catch (error) {
        fail(options, error);
      }
    });
  approvals
    .command("show <id>")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (id: string, options: TeamOptions) => {
      try {
        const team = await findTeam(db(), options.team);
        const request = await showOne(team.id, idArgument(id, "the request"));
        emit(options, { request }, () => [describe(request), ...previewLines(request.preview)].join("\n"));
      } catch (error) {
        fail(options, error);
      }
    });
  const decide = (decision: "approve" | "reject") => async (id: string, options: TeamOptions & { as: string; comment?: string; reason?: string }) => {
    try {
      const team = await findTeam(db(), options.team);
      const requestId = idArgument(id, "the request");
      const comment = decision === "reject" ? textOption(options.reason, "--reason", true) : textOption(options.comment, "--comment");
      const actor = await actingMember(team.id, options.as);
      const row = await decideWriteRequest(db(), { teamId: team.id, id: requestId, deciderId: actor.id, decision, comment, via: "cli" });
      emit(options, { request: row }, () =>
        decision === "approve" ? `approved ${row.id} as ${actor.email}; the caller may execute it until ${row.executeBefore?.toISOString()}` : `rejected ${row.id} as ${actor.email}`,
      );
    } catch (error) {
      fail(options, error);
    }
  };
  approvals
    .command("approve <id>")
    .description("approve a pending write request (or confirm your own confirmation)")
    .requiredOption("--team <slug|id>")
    .requiredOption("--as <email>", "the member deciding (must be allowed to approve on the link)")
    .option("--comment <text>")
    .option("--json", "print JSON")
    .action(decide("approve"));
  approvals
    .command("reject <id>")
    .requiredOption("--team <slug|id>")
    .requiredOption("--as <email>", "the member deciding")
    .requiredOption("--reason <text>", "why (shown to the caller)")
    .option("--json", "print JSON")
    .action(decide("reject"));
}
