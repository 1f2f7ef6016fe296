import type { Command } from "commander";
import { findTeam } from "@portcullis/db/operations";
import type { AuditEvent as AuditRow } from "@portcullis/db/client";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";

function line(row: AuditRow): string {
  const sql = row.sql ? ` ${row.sql.replace(/\s+/g, " ").slice(0, 120)}` : "";
  const rule = row.ruleId ? ` [${row.ruleId}]` : "";
  return `${row.time.toISOString()}  ${row.verdict.padEnd(7)} ${(row.tool ?? row.kind).padEnd(15)} ${row.durationMs.toFixed(1)}ms${rule}${sql}`;
}

function serialise(row: AuditRow): Record<string, unknown> {
  return { ...row, seq: row.seq.toString(), time: row.time.toISOString(), ingestedAt: row.ingestedAt.toISOString() };
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command("audit").description("read and verify the audit trail");
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
    .description("check the team's audit hash chain; reports the first broken link")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const { verifyAuditChain } = await import("@portcullis/db/audit");
        const result = await verifyAuditChain(db(), team.id);
        emit(options, result, () =>
          result.ok
            ? `verified: ${result.checked} events, chain intact`
            : `BROKEN after ${result.checked} events: seq ${result.firstBroken?.seq} (${result.firstBroken?.id}): ${result.firstBroken?.reason}`,
        );
        if (!result.ok) process.exitCode = 4;
      } catch (error) {
        fail(options, error);
      }
    });
}
