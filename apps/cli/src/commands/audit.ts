import type { Command } from "commander";
import { findTeam } from "@portcullis/db/operations";
import type { AuditEvent as AuditRow } from "@portcullis/db/client";
import type { AuditVerification } from "@portcullis/db/audit";
import { z } from "zod";
import { db, withRedis } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { registerAuditSinkCommands } from "./audit-sinks.js";

/**
 * Audit fields hold what clients sent (tool names, SQL, client names): on a terminal an ESC sequence
 * would retitle the window, clear the screen or overwrite a line with a forged one. Every non-printable
 * character (control, format, separator, unassigned) is printed as \xNN or \u{…}. --json needs none
 * of this: JSON escapes them.
 */
export function printable(text: string): string {
  return text.replace(/[\p{C}\p{Zl}\p{Zp}]/gu, (ch) => {
    const cp = ch.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, "0")}` : `\\u{${cp.toString(16)}}`;
  });
}

function line(row: AuditRow): string {
  const sql = row.sql ? ` ${printable(row.sql.replace(/\s+/g, " ").slice(0, 120))}` : "";
  const rule = row.ruleId ? ` [${printable(row.ruleId)}]` : "";
  // Rewritten by row filters, masks or the virtual catalog (--json has the statement that ran).
  const rewritten = row.rewrittenSql ? ` (rewritten${row.attributeNames.length ? `; binds ${printable(row.attributeNames.join(", "))}` : ""})` : "";
  return `${row.time.toISOString()}  ${printable(row.verdict).padEnd(7)} ${printable(row.tool ?? row.kind).padEnd(15)} ${row.durationMs.toFixed(1)}ms${rule}${rewritten}${sql}`;
}

function serialise(row: AuditRow): Record<string, unknown> {
  return { ...row, seq: row.seq.toString(), time: row.time.toISOString(), ingestedAt: row.ingestedAt.toISOString() };
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command("audit").description("read and verify the audit trail");
  registerAuditSinkCommands(audit);
  audit
    .command("tail")
    .description("print the newest audit events (JSON lines with --json); --follow keeps printing")
    .requiredOption("--team <slug|id>")
    .option("-n, --limit <n>", "how many to print first", "20")
    .option("-f, --follow", "keep printing new events")
    .option("--json", "JSON lines")
    .action(async (options: OutputOptions & { team: string; limit: string; follow?: boolean }) => {
      try {
        const team = await findTeam(db(), options.team);
        const limit = Math.min(Math.max(Number(options.limit) || 20, 1), 10_000);
        const newest = await db().auditEvent.findMany({ where: { teamId: team.id }, orderBy: { seq: "desc" }, take: limit });
        let lastSeq = newest[0]?.seq ?? 0n;
        const print = (row: AuditRow) =>
          process.stdout.write(`${options.json ? JSON.stringify(serialise(row)) : line(row)}\n`);
        newest.reverse().forEach(print);
        if (!newest.length && !options.json && !options.follow) process.stdout.write("no audit events yet\n");
        while (options.follow) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          const rows = await db().auditEvent.findMany({ where: { teamId: team.id, seq: { gt: lastSeq } }, orderBy: { seq: "asc" }, take: 1000 });
          rows.forEach(print);
          lastSeq = rows.at(-1)?.seq ?? lastSeq;
        }
      } catch (error) {
        fail(options, error);
      }
    });
  audit
    .command("verify")
    .description("check the team's audit chain (HMAC part with AUDIT_CHAIN_KEY) against its checkpoint outside the database")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const { loadAuditChainKey, readCheckpoint, readDivergedCheckpoints, verifyAuditChain } = await import("@portcullis/db/audit");
        const key = loadAuditChainKey();
        const result = await withRedis(async (redis) => {
          const checkpoint = key && redis ? await readCheckpoint(redis, team.id) : undefined;
          const diverged = key && redis ? await readDivergedCheckpoints(redis, team.id) : [];
          return verifyAuditChain(db(), team.id, { key, checkpoint, diverged });
        });
        emit(options, result, () => describeVerification(result, !!key));
        if (!result.ok) process.exitCode = 4;
      } catch (error) {
        fail(options, error);
      }
    });
  audit
    .command("orphans")
    .description("count (or list with --list) audit events kept because their team was deleted")
    .option("--team <id>", "only this (deleted) team's id")
    .option("--list", "print the events, oldest first")
    .option("-n, --limit <n>", "how many to list", "100")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team?: string; list?: boolean; limit: string }) => {
      try {
        const team = options.team ? z.string().uuid("--team takes the deleted team's id").parse(options.team) : undefined;
        const where = team ? { teamId: team } : {};
        const byTeam = await db().auditOrphan.groupBy({ by: ["teamId"], where, _count: { _all: true }, orderBy: { teamId: "asc" } });
        const total = byTeam.reduce((n, t) => n + t._count._all, 0);
        const limit = Math.min(Math.max(Number(options.limit) || 100, 1), 10_000);
        const rows = options.list ? await db().auditOrphan.findMany({ where, orderBy: [{ receivedAt: "asc" }, { id: "asc" }], take: limit }) : [];
        const teams = byTeam.map((t) => ({ teamId: t.teamId, count: t._count._all }));
        emit(options, { total, teams, ...(options.list ? { events: rows.map((r) => ({ ...r, event: JSON.parse(r.event) as unknown })) } : {}) }, () =>
          [
            `${total} orphaned audit event(s)${teams.length ? ` from ${teams.length} deleted team(s)` : ""}`,
            ...teams.map((t) => `  ${t.teamId}  ${t.count}`),
            ...rows.map((r) => `${r.receivedAt.toISOString()}  ${printable(r.teamId)}  ${printable(r.reason)}  ${printable(r.event.slice(0, 160))}`),
          ].join("\n"),
        );
      } catch (error) {
        fail(options, error);
      }
    });
}

/** The human report of a verification: what is keyed, what the checkpoint says, the first breach. */
export function describeVerification(result: AuditVerification, haveKey: boolean): string {
  const lines: string[] = [];
  lines.push(result.ok ? `verified: ${result.checked} events, chain intact` : `BROKEN after ${result.checked} events: seq ${result.firstBroken?.seq}${result.firstBroken?.id ? ` (${result.firstBroken.id})` : ""}: ${result.firstBroken?.reason}`);
  const pruned = result.prunedThroughSeq && result.prunedThroughSeq !== "0" ? ` (events through seq ${result.prunedThroughSeq} removed by retention)` : "";
  if (result.keyedFromSeq) {
    const legacy = BigInt(result.keyedFromSeq) > 1n ? `seq 1..${BigInt(result.keyedFromSeq) - 1n} SHA-256 (unkeyed, written before AUDIT_CHAIN_KEY); ` : "";
    lines.push(`keyed: ${legacy}seq ${result.keyedFromSeq}..${result.headSeq ?? "?"} HMAC-SHA-256${result.keyChecked ? " (checked with AUDIT_CHAIN_KEY)" : " (NOT checked: AUDIT_CHAIN_KEY is not set)"}${pruned}`);
  } else if (!result.ok && result.checked === 0) {
    // Stopped on evidence found before any event was read (a signed checkpoint the chain lost, a bad
    // anchor): what is keyed is unknown, not "nothing".
    lines.push("keyed: not read (verification stopped at the first breach, before reading the events)");
  } else {
    lines.push(`keyed: no — every event is plain SHA-256${haveKey ? " (no event written with the key yet)" : " (AUDIT_CHAIN_KEY is not set: anyone who can write the database can rewrite the chain)"}${pruned}`);
  }
  const cp = result.checkpoint;
  if (cp?.status === "matched") lines.push(`checkpoint: seq ${cp.seq}, signed ${cp.at}, outside the database${result.ok ? ": matches" : ""}`);
  else if (cp?.status === "behind_retention") lines.push(`checkpoint: seq ${cp.seq} (signed ${cp.at}) is older than the retention cut; not comparable`);
  else if (cp?.status === "absent") lines.push("checkpoint: none found in Redis (truncation of the newest events cannot be detected)");
  else lines.push(`checkpoint: not consulted (${haveKey ? "Redis unreachable or REDIS_URL not set" : "needs AUDIT_CHAIN_KEY"}): truncation of the newest events cannot be detected`);
  for (const b of result.breaks ?? []) lines.push(`chain break recorded by the worker at seq ${b.seq}: ${b.reason}`);
  return lines.join("\n");
}
