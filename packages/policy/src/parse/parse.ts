import { loadModule, parseSync } from "libpg-query";

// parseSync needs the wasm module instantiated first; doing it once at import time keeps the
// checker synchronous on the hot path (the gateway imports this package at startup).
await loadModule();

export type PgNode = Record<string, unknown>;

export interface RawStatement {
  stmt: PgNode;
  stmt_location?: number;
  stmt_len?: number;
}

export type ParseOutcome =
  | { ok: true; statements: RawStatement[] }
  | { ok: false; message: string; position: number | undefined };

/** Parses with PostgreSQL's own grammar; never throws (the wasm parser can fail on pathological input). */
export function parseSql(sql: string): ParseOutcome {
  try {
    const tree = parseSync(sql) as unknown as { stmts?: RawStatement[] };
    return { ok: true, statements: tree.stmts ?? [] };
  } catch (error) {
    const err = error as { message?: string; sqlDetails?: { cursorPosition?: number } };
    const message = typeof err?.message === "string" ? err.message : String(error);
    return { ok: false, message, position: err?.sqlDetails?.cursorPosition };
  }
}
