import { randomBytes } from "node:crypto";
import pg from "pg";
import { accessView, searchPathFor, type Catalog, type Scope } from "../../src/index.js";

/**
 * The database as the judge. Runs a statement the way the gateway runs a read (BEGIN READ ONLY,
 * SET LOCAL statement_timeout, SET LOCAL search_path) and, in the same transaction, asks PostgreSQL
 * what it touched:
 *  - as a probe role granted SELECT only on the scope's visible tables and visible columns, so a read
 *    of a hidden table or column fails with insufficient_privilege (42501);
 *  - pg_stat_xact_user_tables: scans of hidden relations (through views or SECURITY DEFINER
 *    functions, which run with their owner's rights) and rows written anywhere;
 *  - pg_stat_xact_user_functions (track_functions = all): hidden or unverifiable functions called;
 *  - read_only_sql_transaction (25006): a write the checker thought was a read.
 */
export interface OracleFinding {
  sql: string;
  problem: string;
}

export interface Oracle {
  run(sql: string): Promise<{ ok: boolean; error?: string; finding?: OracleFinding }>;
  close(): Promise<void>;
}

export async function createOracle(databaseUrl: string, scope: Scope, catalog: Catalog): Promise<Oracle> {
  const view = accessView(scope, catalog);
  const role = `probe_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const ident = pg.escapeIdentifier;
  await admin.query(`CREATE ROLE ${role} NOLOGIN`);
  for (const schema of view.visibleSchemas) await admin.query(`GRANT USAGE ON SCHEMA ${ident(schema)} TO ${role}`);
  for (const rel of view.relations.values()) {
    const name = `${ident(rel.relation.schema)}.${ident(rel.relation.name)}`;
    if (rel.relation.kind === "sequence") await admin.query(`GRANT SELECT ON ${name} TO ${role}`);
    else await admin.query(`GRANT SELECT (${rel.columns.map(ident).join(", ")}) ON ${name} TO ${role}`);
  }
  const hiddenRelations = new Set(Object.keys(catalog.relations).filter((k) => !view.relations.has(k)));
  const forbiddenFunctions = new Set(
    Object.keys(catalog.functions).filter((k) => {
      const fn = catalog.functions[k]!;
      if (!view.visibleSchemas.has(fn.schema)) return true;
      if (fn.volatility === "volatile") return true;
      return view.hidesSomething && (fn.securityDefiner || !view.functionVerified(k));
    }),
  );

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const searchPath = searchPathFor(scope);

  const run = async (sql: string) => {
    await client.query("BEGIN READ ONLY");
    try {
      await client.query(`SET LOCAL statement_timeout = '1s'`);
      await client.query(`SET LOCAL track_functions = 'all'`);
      await client.query(`SET LOCAL search_path = ${searchPath}`);
      await client.query(`SET LOCAL ROLE ${role}`);
      await client.query("SAVEPOINT probe");
      let error: string | undefined;
      let finding: OracleFinding | undefined;
      try {
        await client.query(sql);
      } catch (e) {
        const err = e as { code?: string; message: string };
        error = `${err.code ?? "?"} ${err.message}`;
        if (err.code === "42501") finding = { sql, problem: `read a hidden object: ${err.message}` };
        if (err.code === "25006") finding = { sql, problem: `a write was classified as a read: ${err.message}` };
        await client.query("ROLLBACK TO SAVEPOINT probe");
      }
      await client.query("RESET ROLE");
      const tables = await client.query<{ rel: string; scans: string; writes: string }>(
        `SELECT schemaname || '.' || relname AS rel, seq_scan + coalesce(idx_scan, 0) AS scans, n_tup_ins + n_tup_upd + n_tup_del AS writes
           FROM pg_stat_xact_user_tables WHERE seq_scan + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del > 0`,
      );
      for (const t of tables.rows) {
        if (Number(t.writes) > 0) finding ??= { sql, problem: `wrote ${t.writes} rows of ${t.rel}` };
        if (Number(t.scans) > 0 && hiddenRelations.has(t.rel)) finding ??= { sql, problem: `scanned hidden relation ${t.rel}` };
      }
      const fns = await client.query<{ fn: string }>(`SELECT schemaname || '.' || funcname AS fn FROM pg_stat_xact_user_functions`);
      for (const f of fns.rows) if (forbiddenFunctions.has(f.fn)) finding ??= { sql, problem: `called forbidden function ${f.fn}` };
      return { ok: error === undefined, ...(error ? { error } : {}), ...(finding ? { finding } : {}) };
    } finally {
      await client.query("ROLLBACK");
    }
  };

  return {
    run,
    close: async () => {
      await client.end();
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
      await admin.end();
    },
  };
}
