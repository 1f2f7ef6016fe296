/**
 * What each call of the agent mix came back as, counted per kind, so the benchmark can show that every
 * target did the same work (rows returned, refusals) and fail when one mostly answered with errors.
 */
import type { CallKind, MixCall } from "./agent-mix.js";

export interface KindCount {
  calls: number;
  /** A result, for a call that should return one. */
  ok: number;
  /** An error result, JSON-RPC error or pg error for a call that should have returned rows. */
  error: number;
  /** A refusal (or error) for a call a read-only server must not run. */
  refused: number;
  /** A result for a call a read-only server must not run: it ran. */
  ran: number;
  /** Rows returned, over the `ok` calls whose rows could be counted. */
  rows: number;
  counted: number;
  maxRows: number;
}

/** `samples`: the first errors, as text; `ranFamilies`: per shape family, refused-kind calls that ran. */
export type Outcomes = Partial<Record<CallKind, KindCount>> & { samples?: string[]; ranFamilies?: Record<string, number> };

const empty = (): KindCount => ({ calls: 0, ok: 0, error: 0, refused: 0, ran: 0, rows: 0, counted: 0, maxRows: 0 });

export function record(outcomes: Outcomes, call: MixCall, answered: boolean, rows: number | undefined, detail?: string): void {
  const c = (outcomes[call.kind] ??= empty());
  c.calls++;
  if (call.expect === "refused") {
    if (answered) {
      c.ran++;
      const family = call.shape.split(":")[0]!;
      const ran = (outcomes.ranFamilies ??= {});
      ran[family] = (ran[family] ?? 0) + 1;
    } else c.refused++;
    return;
  }
  if (!answered) {
    c.error++;
    const samples = (outcomes.samples ??= []);
    if (samples.length < 5) samples.push(`${call.shape}: ${detail?.slice(0, 240) ?? "?"} :: ${call.sql.slice(0, 160)}`);
    return;
  }
  c.ok++;
  if (rows !== undefined) {
    c.rows += rows;
    c.counted++;
    c.maxRows = Math.max(c.maxRows, rows);
  }
}

export function merge(into: Outcomes, from: Outcomes): Outcomes {
  for (const [kind, c] of Object.entries(from) as [CallKind | "samples" | "ranFamilies", KindCount | string[] | Record<string, number>][]) {
    if (kind === "ranFamilies") {
      const ran = (into.ranFamilies ??= {});
      for (const [family, n] of Object.entries(c as Record<string, number>)) ran[family] = (ran[family] ?? 0) + n;
      continue;
    }
    if (kind === "samples") {
      const samples = (into.samples ??= []);
      for (const s of c as string[]) if (samples.length < 5) samples.push(s);
      continue;
    }
    const t = (into[kind] ??= empty());
    const f = c as KindCount;
    t.calls += f.calls;
    t.ok += f.ok;
    t.error += f.error;
    t.refused += f.refused;
    t.ran += f.ran;
    t.rows += f.rows;
    t.counted += f.counted;
    t.maxRows = Math.max(t.maxRows, f.maxRows);
  }
  return into;
}

export function totals(o: Outcomes): KindCount {
  const sum: Outcomes = {};
  for (const [kind, c] of Object.entries(o)) if (kind !== "samples" && kind !== "ranFamilies") merge(sum, { point: c as KindCount });
  return sum.point ?? empty();
}

type ToolResult = { isError?: boolean; structuredContent?: Record<string, unknown>; content?: { type: string; text?: string }[] };

/**
 * Rows in a tool result, whichever server wrote it: Portcullis's structuredContent.rowCount, DBHub's
 * `{ data: { statements: [{ rows }] } }` text (the last statement's), the ceiling's `{ rows }` text.
 * Undefined for answers without rows (schema tools).
 */
export function rowsOf(result: ToolResult): number | undefined {
  const sc = result.structuredContent;
  if (sc && typeof sc.rowCount === "number") return sc.rowCount;
  const text = result.content?.find((c) => c.type === "text")?.text;
  if (!text || (text[0] !== "{" && text[0] !== "[")) return undefined;
  try {
    const parsed = JSON.parse(text) as { rows?: unknown[]; data?: { statements?: { rows?: unknown[] }[] } };
    if (Array.isArray(parsed.rows)) return parsed.rows.length;
    const statements = parsed.data?.statements;
    if (Array.isArray(statements) && statements.length) return statements[statements.length - 1]!.rows?.length;
  } catch {
    return undefined;
  }
  return undefined;
}
