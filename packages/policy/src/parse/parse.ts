// libpg-query instantiates its wasm module as soon as it is imported, so it is imported lazily: the
// dashboard can use the scope helpers of this package without loading (or bundling) the parser.
type LibPgQuery = typeof import("libpg-query");

let parser: LibPgQuery | undefined;
let loading: Promise<void> | undefined;

/**
 * Loads the PostgreSQL parser (wasm). Await it once at startup; `loadCatalog` and the CLI do. The
 * checker itself stays synchronous on the hot path, which is why it cannot load the parser itself.
 */
export function policyReady(): Promise<void> {
  loading ??= import("libpg-query").then(async (mod) => {
    await mod.loadModule();
    parser = mod;
  });
  return loading;
}

export type PgNode = Record<string, unknown>;

export interface RawStatement {
  stmt: PgNode;
  stmt_location?: number;
  stmt_len?: number;
}

export type ParseOutcome =
  | { ok: true; statements: RawStatement[] }
  | { ok: false; message: string; position: number | undefined };

/** Parses with PostgreSQL's own grammar; never throws on bad input (the wasm parser can fail on pathological text). */
export function parseSql(sql: string): ParseOutcome {
  if (!parser) throw new Error("the SQL parser is not loaded yet: await policyReady() once at startup (loadCatalog does it)");
  try {
    const tree = parser.parseSync(sql) as unknown as { stmts?: RawStatement[] };
    return { ok: true, statements: tree.stmts ?? [] };
  } catch (error) {
    const err = error as { message?: string; sqlDetails?: { cursorPosition?: number } };
    const message = typeof err?.message === "string" ? err.message : String(error);
    return { ok: false, message, position: err?.sqlDetails?.cursorPosition };
  }
}

export type PlpgsqlOutcome = { ok: true; functions: PgNode[] } | { ok: false; message: string };

/**
 * Compiles the PL/pgSQL of one CREATE FUNCTION or DO statement (its own text) the way the server's
 * PL/pgSQL compiler would, giving the embedded SQL of every statement and expression in the body.
 */
export function parsePlpgsql(statementText: string): PlpgsqlOutcome {
  if (!parser) throw new Error("the SQL parser is not loaded yet: await policyReady() once at startup (loadCatalog does it)");
  try {
    const tree = parser.parsePlPgSQLSync(statementText) as unknown as { plpgsql_funcs?: PgNode[] };
    return { ok: true, functions: tree.plpgsql_funcs ?? [] };
  } catch (error) {
    const message = typeof (error as { message?: unknown })?.message === "string" ? (error as Error).message : String(error);
    return { ok: false, message };
  }
}

export interface SqlToken {
  start: number;
  end: number;
  text: string;
}

/** PostgreSQL's lexer over `sql` (offsets are UTF-8 byte offsets); empty when the text does not scan. */
export function scanSql(sql: string): SqlToken[] {
  if (!parser) throw new Error("the SQL parser is not loaded yet: await policyReady() once at startup (loadCatalog does it)");
  try {
    return (parser.scanSync(sql) as unknown as { tokens?: SqlToken[] }).tokens ?? [];
  } catch {
    return [];
  }
}
