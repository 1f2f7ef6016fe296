import type { Attempt, Expected } from "./load.js";

export interface AuditRowSeen {
  request_id: string;
  sql: string | null;
  verdict: string;
  kind: string;
  error?: string | null;
}

/**
 * The start of the error a stored intent carries when its gateway was killed between answering and
 * journalling the outcome (OUTCOME_NOT_RECORDED in apps/gateway/src/audit/producer.ts): the statement
 * was allowed and sent; whether the database answered rows or an error is what was not recorded.
 */
const OUTCOME_NOT_RECORDED = "outcome not recorded:";

export interface ChaosSummary {
  attempts: number;
  answered: number;
  /** Answered calls by the verdict their statement must get. */
  perVerdict: Record<Expected, number>;
  retryable: Record<string, number>;
  /** Per phase of the test: answers, and failed attempts by kind. */
  byPhase: Record<string, { answered: number; errors: Record<string, number> }>;
  nonRetryable: Record<string, number>;
  rows: number;
  /** Failed attempts (no answer reached the client) that nevertheless have their row. */
  failedWithRow: number;
  answeredWithoutRow: string[];
  wrongRow: string[];
  /** Rows stored from an intent whose outcome its killed gateway never journalled (allowed, outcome unknown). */
  outcomeNotRecorded: number;
  duplicated: string[];
  unknownRows: string[];
  echoMismatch: number;
  problems: string[];
}

const count = (into: Record<string, number>, key: string) => (into[key] = (into[key] ?? 0) + 1);

/** Matches every attempt with the audit rows carrying its request id, and names each kind of mismatch. */
export function summarise(attempts: Attempt[], rows: AuditRowSeen[], gaveUp: number): ChaosSummary {
  const byId = new Map<string, AuditRowSeen[]>();
  for (const row of rows) byId.set(row.request_id, [...(byId.get(row.request_id) ?? []), row]);
  const sent = new Map(attempts.map((a) => [a.requestId, a]));
  const s: ChaosSummary = {
    attempts: attempts.length,
    answered: 0,
    perVerdict: { allowed: 0, blocked: 0, error: 0 },
    retryable: {},
    byPhase: {},
    nonRetryable: {},
    rows: rows.length,
    failedWithRow: 0,
    answeredWithoutRow: [],
    wrongRow: [],
    outcomeNotRecorded: 0,
    duplicated: [],
    unknownRows: [],
    echoMismatch: 0,
    problems: [],
  };
  if (gaveUp) s.problems.push(`${gaveUp} call(s) ran out of retries`);
  for (const a of attempts) {
    const mine = byId.get(a.requestId) ?? [];
    if (a.echoedRequestId !== undefined && a.echoedRequestId !== a.requestId) {
      s.echoMismatch++;
      s.problems.push(`${a.requestId}: X-Request-Id echoed as ${a.echoedRequestId}`);
    }
    if (a.outcome === "answered") {
      s.answered++;
      (s.byPhase[a.phase] ??= { answered: 0, errors: {} }).answered++;
      s.perVerdict[a.expected]++;
      if (a.isError !== (a.expected !== "allowed")) {
        s.wrongRow.push(`${a.requestId}: answered with isError=${a.isError} for a statement expected ${a.expected}`);
      }
      if (mine.length === 0) {
        s.answeredWithoutRow.push(a.requestId);
        s.problems.push(`${a.requestId} (${a.gateway}, ${Math.round(a.ms)} ms): answered, no audit row`);
      }
    } else {
      count(a.retryable ? s.retryable : s.nonRetryable, a.errorKind ?? "?");
      count((s.byPhase[a.phase] ??= { answered: 0, errors: {} }).errors, a.errorKind ?? "?");
      if (!a.retryable) s.problems.push(`${a.requestId} (${a.gateway}): ${a.errorKind} ${a.detail ?? ""}`);
      if (mine.length) s.failedWithRow++;
    }
    if (mine.length > 1) s.duplicated.push(`${a.requestId} ×${mine.length}`);
    for (const row of mine) {
      // An intent stored without its outcome records the policy's verdict (allowed) for a statement the
      // database then answered with rows or with an error.
      const outcomeLost = row.verdict === "allowed" && (a.expected === "allowed" || a.expected === "error") && row.error?.startsWith(OUTCOME_NOT_RECORDED) === true;
      if (outcomeLost) s.outcomeNotRecorded++;
      if (row.sql !== a.sql || (row.verdict !== a.expected && !outcomeLost)) {
        s.wrongRow.push(`${a.requestId}: row (${row.kind}, ${row.verdict}, ${JSON.stringify(row.sql?.slice(0, 80))}) for a ${a.expected} call of ${JSON.stringify(a.sql.slice(0, 80))}`);
      }
    }
  }
  for (const id of byId.keys()) if (!sent.has(id)) s.unknownRows.push(id);
  s.problems.push(...s.wrongRow, ...s.duplicated.map((d) => `duplicated: ${d}`), ...s.unknownRows.map((u) => `unknown row: ${u}`));
  return s;
}

const kinds = (m: Record<string, number>) =>
  Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ×${n}`)
    .join(", ") || "none";

/** The table the issue note quotes. */
export function formatSummary(
  s: ChaosSummary,
  extra: {
    loadSeconds: number;
    settleSeconds: number;
    verification: { ok: boolean; checked: number; keyChecked?: boolean; checkpoint?: { status: string } };
    ingestion: { failedJobs: number; deadLettered: number };
  },
): string {
  const lines: [string, string][] = [
    ["load", `${extra.loadSeconds.toFixed(1)} s, ${(s.attempts / extra.loadSeconds).toFixed(1)} attempts/s; settled in ${extra.settleSeconds.toFixed(1)} s`],
    ["calls sent (attempts)", String(s.attempts)],
    ["answered", String(s.answered)],
    ["  allowed / blocked / error", `${s.perVerdict.allowed} / ${s.perVerdict.blocked} / ${s.perVerdict.error}`],
    ["retryable errors", `${Object.values(s.retryable).reduce((a, b) => a + b, 0)}: ${kinds(s.retryable)}`],
    ["per phase (sent while…)", ""],
    ...Object.entries(s.byPhase).map(([phase, p]): [string, string] => [`  ${phase}`, `answered ${p.answered}; errors: ${kinds(p.errors)}`]),
    ["NON-retryable errors", `${Object.values(s.nonRetryable).reduce((a, b) => a + b, 0)}: ${kinds(s.nonRetryable)}`],
    ["audit rows (this run)", String(s.rows)],
    ["failed attempts with a row", String(s.failedWithRow)],
    ["answered without a row", String(s.answeredWithoutRow.length)],
    ["rows not matching the call", String(s.wrongRow.length)],
    ["rows whose outcome a killed gateway never recorded (allowed, outcome unknown)", String(s.outcomeNotRecorded)],
    ["request ids with 2+ rows", String(s.duplicated.length)],
    ["rows of unknown request ids", String(s.unknownRows.length)],
    ["failed audit jobs / dead letters", `${extra.ingestion.failedJobs} / ${extra.ingestion.deadLettered}`],
    ["chain verify", `${extra.verification.ok ? "ok" : "BROKEN"}, ${extra.verification.checked} checked, keyed ${extra.verification.keyChecked ? "yes" : "no"}, checkpoint ${extra.verification.checkpoint?.status ?? "?"}`],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n");
}
