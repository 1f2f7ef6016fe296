import type { Command } from "commander";
import {
  adminSinkUrl,
  type AuditSinkView,
  createAuditSink,
  deleteAuditSink,
  findTeam,
  listAuditSinks,
  pauseAuditSink,
  loadAuditExportBatchBytes,
  readAuditExportBatch,
  resumeAuditSink,
  seqCursorSchema,
  stackEndpoints,
} from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";

/**
 * `audit sink add|list|pause|resume|delete` and `audit export --after N`: the operator's side of the
 * audit sinks (issue 16). The same data operations as the dashboard — audited with via "cli", the
 * same name and address rules — so a sink added here is one the dashboard shows, and the reverse.
 */
const shown = (s: AuditSinkView) => ({ ...s, url: adminSinkUrl(s.url) });

function describe(s: AuditSinkView): string {
  const where = s.kind === "webhook" ? adminSinkUrl(s.url) : "files";
  const reason = s.pausedReason ? ` — ${s.pausedReason}` : s.lastError ? ` — last error: ${s.lastError}` : "";
  return `${s.id}  ${s.name.padEnd(16)} ${s.kind.padEnd(7)} ${s.status.padEnd(6)} cursor ${s.cursorSeq} lag ${s.lag}  ${where}${reason}`;
}

/** The stack's own services as the operator's environment names them (refused as webhook targets). */
const cliStack = () => stackEndpoints([process.env.DATABASE_URL, process.env.REDIS_URL, process.env.WEB_PUBLIC_URL, process.env.GATEWAY_PUBLIC_URL]);

async function sinkOf(teamRef: string, ref: string): Promise<{ teamId: string; sink: AuditSinkView }> {
  const team = await findTeam(db(), teamRef);
  const sinks = await listAuditSinks(db(), { teamId: team.id });
  const sink = sinks.find((s) => s.id === ref || s.name === ref);
  if (!sink) throw new PortcullisError("not_found", `no audit sink ${ref} in team ${teamRef}`);
  return { teamId: team.id, sink };
}

export function registerAuditSinkCommands(audit: Command): void {
  const sink = audit.command("sink").description("stream the audit trail to a signed webhook or JSON-lines files");
  sink
    .command("add")
    .description("add a sink: --url for a webhook (its signing secret is printed once), --file for JSON-lines files under AUDIT_EXPORT_DIR")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>", "lower-case letters, digits and dashes; the file sink's directory")
    .option("--url <url>", "the webhook URL")
    .option("--file", "JSON-lines files under the worker's AUDIT_EXPORT_DIR/<team id>/<name>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string; name: string; url?: string; file?: boolean }) => {
      try {
        if (Boolean(options.url) === Boolean(options.file)) throw new PortcullisError("invalid_input", "give either --url (a webhook) or --file");
        const team = await findTeam(db(), options.team);
        const base = { teamId: team.id, name: options.name, via: "cli" as const };
        const { sink: added, secret } = await createAuditSink(db(), options.url ? { ...base, kind: "webhook", url: options.url } : { ...base, kind: "file" }, { stack: cliStack() });
        emit(options, { sink: shown(added), secret }, () => `${describe(added)}${secret ? `\nsigning secret (shown once): ${secret}` : ""}`);
      } catch (error) {
        fail(options, error);
      }
    });
  sink
    .command("list")
    .description("the team's sinks with cursor, lag and last error")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const sinks = await listAuditSinks(db(), { teamId: team.id });
        emit(options, sinks.map(shown), () => (sinks.length ? sinks.map(describe).join("\n") : "no audit sinks"));
      } catch (error) {
        fail(options, error);
      }
    });
  for (const [verb, run] of [
    ["pause", pauseAuditSink],
    ["resume", resumeAuditSink],
    ["delete", deleteAuditSink],
  ] as const) {
    sink
      .command(`${verb} <sink>`)
      .description(`${verb} a sink (by id or name)`)
      .requiredOption("--team <slug|id>")
      .option("--json", "print JSON")
      .action(async (ref: string, options: OutputOptions & { team: string }) => {
        try {
          const { teamId, sink: found } = await sinkOf(options.team, ref);
          await run(db(), { teamId, sinkId: found.id, via: "cli" });
          emit(options, { id: found.id, name: found.name, done: verb }, () => `${verb === "pause" ? "paused" : verb === "resume" ? "resumed" : "deleted"} ${found.name}`);
        } catch (error) {
          fail(options, error);
        }
      });
  }
  audit
    .command("export")
    .description("the team's audit events after a seq, in chain order, as JSON lines on stdout (the next cursor on stderr)")
    .requiredOption("--team <slug|id>")
    .option("--after <seq>", "the last seq already held (0: from the start of the retained trail)", "0")
    .option("--limit <n>", "at most this many events (0: all)", "0")
    .action(async (options: { team: string; after: string; limit: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const parsed = seqCursorSchema.safeParse(options.after);
        if (!parsed.success) throw new PortcullisError("invalid_input", `--after: ${parsed.error.issues[0]?.message}`);
        const limit = /^[0-9]{1,9}$/.test(options.limit) ? Number(options.limit) : NaN;
        if (Number.isNaN(limit)) throw new PortcullisError("invalid_input", "--limit is a whole number");
        let cursor = parsed.data;
        let sent = 0;
        // Pages stop at AUDIT_EXPORT_BATCH_BYTES too: a run of huge events is never held whole.
        const maxBytes = loadAuditExportBatchBytes(process.env);
        for (;;) {
          const page = Math.min(5000, limit > 0 ? limit - sent : 5000);
          if (page <= 0) break;
          const { gap, lines } = await readAuditExportBatch(db(), { teamId: team.id, afterSeq: cursor, limit: page }, { maxBytes });
          if (!gap && lines.length === 0) break;
          // Events retention removed before they were exported: said once, as the sinks say it (README,
          // Audit export), and the cursor moves past them.
          const out = [...(gap ? [gap] : []), ...lines];
          if (!process.stdout.write(out.map((l) => `${JSON.stringify(l)}\n`).join(""))) await new Promise((r) => process.stdout.once("drain", r));
          sent += lines.length;
          cursor = lines.at(-1)?.seq ?? gap!.to_seq;
        }
        process.stderr.write(`next cursor: ${cursor} (${sent} events)\n`);
      } catch (error) {
        fail({}, error);
      }
    });
}
