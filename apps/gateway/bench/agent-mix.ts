/**
 * The agent mix: what an AI agent sends a PostgreSQL MCP server in a session, on Chinook — schema calls
 * first, then mostly small reads (lookups, 2–4 table joins, GROUP BY/HAVING, window functions, CTEs,
 * ORDER BY/LIMIT), some 1,000-row results and ~10% that a read-only server must refuse (writes, DDL,
 * system catalogs, server-file functions, stacked statements).
 *
 * `createMix(seed, dialect).nextCall(i)` is a pure function of (seed, i): every target of the benchmark
 * gets the same logical call i, written in its own dialect. The literals of call i come from i itself
 * (a bijection of i mod LITERAL_SPACE spread over the template's literal slots, whose ranges multiply to
 * at least LITERAL_SPACE), so within LITERAL_SPACE calls no SQL text repeats: no cache keyed by the
 * statement text (a verdict cache, a plan cache) can answer a call it saw before.
 * Schema tool calls carry no SQL; their arguments repeat as an agent's do (11 tables to describe).
 */
import { readShapes, SCHEMA_SHAPES, type CallKind, type Shape } from "./agent-mix-shapes.js";

export type { CallKind } from "./agent-mix-shapes.js";

/** gateway: Portcullis's tools; dbhub: DBHub 1.4's (execute_sql, search_objects); sql: the SQL only (ceiling, pg). */
export type Dialect = "gateway" | "dbhub" | "sql";

export interface MixCall {
  /** The MCP tool to call (`execute_sql` for every SQL statement; for the sql dialect, always). */
  tool: string;
  args: Record<string, unknown>;
  kind: CallKind;
  /** The SQL this call runs (execute_sql), or the SQL equivalent of a schema tool call. */
  sql: string;
  /** `refused`: a read-only server must not run it. Everything else must return rows. */
  expect: "ok" | "refused";
  /** The template it came from, stable across seeds (for per-shape reporting and the shape count). */
  shape: string;
}

/** 2^22 calls: the benchmark's index ranges (bench-calls.ts) stay inside it; texts repeat only beyond. */
export const LITERAL_SPACE = 1 << 22;

/** Calls per agent session: the first four are schema calls, as an agent starts by looking around. */
export const SESSION_LENGTH = 32;

/** mulberry32: small, fast, good enough for choosing shapes; seeded per call so nextCall is random-access. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(seed: number, i: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/**
 * The literal slots of one call: digits of q in the mixed radix of the slots' ranges. Distinct q give
 * distinct digit tuples as long as q < the product of the ranges (the template's capacity, checked by
 * the unit test), and each slot prints its digit at a fixed place of the text: distinct texts.
 */
export class Slots {
  private q: number;
  capacity = 1;
  constructor(q: number) {
    this.q = q;
  }
  int(lo: number, hi: number): number {
    const range = hi - lo + 1;
    this.capacity *= range;
    const d = this.q % range;
    this.q = Math.floor(this.q / range);
    return lo + d;
  }
  pick<T>(values: readonly T[]): T {
    return values[this.int(0, values.length - 1)]!;
  }
  /** A date between 2021-01-01 and 2025-12-31 (Chinook's invoice dates), as 'YYYY-MM-DD'. */
  date(): string {
    const d = new Date(Date.UTC(2021, 0, 1) + this.int(0, 1825) * 86_400_000);
    return d.toISOString().slice(0, 10);
  }
  /** A period of 1 to 365 days starting in 2021–2025: `'from' AND 'to'`. */
  period(): string {
    const from = Date.UTC(2021, 0, 1) + this.int(0, 1825) * 86_400_000;
    const to = from + this.int(1, 365) * 86_400_000;
    return `'${new Date(from).toISOString().slice(0, 10)}' AND '${new Date(to).toISOString().slice(0, 10)}'`;
  }
}

/** A bijection of [0, LITERAL_SPACE): neighbouring calls get unrelated literals. */
function scramble(i: number): number {
  const x = ((i % LITERAL_SPACE) + LITERAL_SPACE) % LITERAL_SPACE;
  // An odd multiplier is invertible modulo a power of two.
  return Number((BigInt(x) * 2654435761n + 12345n) % BigInt(LITERAL_SPACE));
}

/** Weights of the calls after a session's first four (which are schema calls). */
const LATER_WEIGHTS: [CallKind, number][] = [
  ["schema", 2],
  ["point", 26],
  ["join", 20],
  ["aggregate", 13],
  ["window", 7],
  ["cte", 7],
  ["order-limit", 8],
  ["large", 5.7],
  ["refused", 11.4],
];
const LATER_TOTAL = LATER_WEIGHTS.reduce((a, [, w]) => a + w, 0);

function kindAt(position: number, r: number): CallKind {
  if (position < 4) return "schema";
  let x = r * LATER_TOTAL;
  for (const [kind, w] of LATER_WEIGHTS) {
    if ((x -= w) < 0) return kind;
  }
  return "point";
}

export interface AgentMix {
  nextCall(i: number): MixCall;
  /** Every shape of the mix, by kind (for the unit test and the report). */
  shapes: readonly Shape[];
}

/**
 * `literals` shifts the literal index only: the same shapes in the same order, other values. Targets that
 * share a server process (the gateway's four client kinds) each get their own, so no target's statement
 * text is one another target already sent — or the second would be measured with a warm verdict cache.
 */
export function createMix(seed: number, dialect: Dialect, shapes: readonly Shape[] = allShapes(), literals = 0): AgentMix {
  const byKind = new Map<CallKind, Shape[]>();
  for (const s of shapes) byKind.set(s.kind, [...(byKind.get(s.kind) ?? []), s]);
  return {
    shapes,
    nextCall(i: number): MixCall {
      const r = rng(hash(seed, i));
      const position = i % SESSION_LENGTH;
      const kind = kindAt(position, r());
      let shape: Shape;
      if (kind === "schema" && position < 4) {
        // list_tables, then describe two tables, then a search: the order agents follow.
        shape = SCHEMA_SHAPES[position === 0 ? 0 : position === 3 ? 2 : 1]!;
      } else {
        const pool = byKind.get(kind)!;
        shape = pool[Math.floor(r() * pool.length)]!;
      }
      const slots = new Slots(scramble((i + (seed % 7919) * 104_729 + literals) % LITERAL_SPACE));
      const built = shape.build(slots, dialect);
      return { ...built, kind: shape.kind, expect: shape.kind === "refused" ? "refused" : "ok", shape: shape.id };
    },
  };
}

let cached: readonly Shape[] | undefined;
export function allShapes(): readonly Shape[] {
  return (cached ??= [...SCHEMA_SHAPES, ...readShapes()]);
}

