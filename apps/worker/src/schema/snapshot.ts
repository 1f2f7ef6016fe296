import pg from "pg";
import { pinTargetSession } from "@portcullis/db/target";

/** A schema snapshot as stored in schema_snapshots.snapshot (also what the describer reads). */
export interface SchemaSnapshotDoc {
  version: 1;
  serverVersion: string;
  tables: TableSnapshot[];
}

export type TableKind = "table" | "partitioned_table" | "view" | "materialized_view" | "foreign_table";

export interface TableSnapshot {
  schema: string;
  name: string;
  kind: TableKind;
  comment: string | null;
  /** pg_class.reltuples; null when the table was never analysed. */
  rowEstimate: number | null;
  columns: ColumnSnapshot[];
  primaryKey: string[] | null;
  uniqueConstraints: { name: string; columns: string[] }[];
  foreignKeys: { name: string; columns: string[]; references: { schema: string; table: string; columns: string[] } }[];
  indexes: { name: string; definition: string; unique: boolean; primary: boolean }[];
  /** CHECK constraints ("quantity > 0"); absent in snapshots taken before they were recorded. */
  checks?: { name: string; columns: string[]; definition: string }[];
}

export interface ColumnSnapshot {
  name: string;
  type: string;
  nullable: boolean;
  default: string | null;
  comment: string | null;
}

const KINDS: Record<string, TableKind> = { r: "table", p: "partitioned_table", v: "view", m: "materialized_view", f: "foreign_table" };

// Shared filter: user schemas only, no partitions (they appear through their parent).
const RELATIONS = `
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

const TABLES_SQL = `
SELECT c.oid::int8::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
  obj_description(c.oid, 'pg_class') AS comment,
  CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::int8::text END AS row_estimate
${RELATIONS}
ORDER BY n.nspname, c.relname`;

const COLUMNS_SQL = `
SELECT c.oid::int8::text AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
  NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS "default", col_description(c.oid, a.attnum) AS comment
${RELATIONS.replace("FROM pg_class c", "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid").replace(
  "WHERE",
  "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attnum > 0 AND NOT a.attisdropped AND",
)}
ORDER BY c.oid, a.attnum`;

const CONSTRAINTS_SQL = `
SELECT c.oid::int8::text AS oid, con.conname AS name, con.contype AS type,
  ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
  fn.nspname AS ref_schema, fc.relname AS ref_table,
  ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS ref_columns,
  CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid) END AS definition
${RELATIONS.replace("FROM pg_class c", "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid").replace(
  "WHERE",
  "LEFT JOIN pg_class fc ON fc.oid = con.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace WHERE con.contype IN ('p','u','f','c') AND",
)}
ORDER BY c.oid, con.conname`;

const INDEXES_SQL = `
SELECT c.oid::int8::text AS oid, i.relname AS name, pg_get_indexdef(i.oid) AS definition, x.indisunique AS unique, x.indisprimary AS primary
${RELATIONS.replace("FROM pg_class c", "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid")}
ORDER BY c.oid, i.relname`;

/**
 * Reads the catalog of a target database in a READ ONLY transaction with a statement timeout:
 * introspection must never write to, nor hold up, a customer's database.
 */
export async function takeSnapshot(config: pg.ClientConfig, statementTimeoutMs = 30_000): Promise<SchemaSnapshotDoc> {
  const client = new pg.Client(config);
  // A target that dies mid-read emits 'error' on the client as well as failing the pending query:
  // unheard, that event would end the worker. The query's rejection is what reports it.
  client.on("error", () => {});
  await client.connect();
  try {
    await pinTargetSession(client);
    await client.query("BEGIN READ ONLY");
    await client.query(`SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
    const version = await client.query<{ server_version: string }>("SHOW server_version");
    const tables = await client.query(TABLES_SQL);
    const columns = await client.query(COLUMNS_SQL);
    const constraints = await client.query(CONSTRAINTS_SQL);
    const indexes = await client.query(INDEXES_SQL);
    await client.query("COMMIT");

    const byOid = new Map<string, TableSnapshot>();
    for (const t of tables.rows) {
      byOid.set(t.oid, {
        schema: t.schema,
        name: t.name,
        kind: KINDS[t.kind] ?? "table",
        comment: t.comment,
        rowEstimate: t.row_estimate == null ? null : Number(t.row_estimate),
        columns: [],
        primaryKey: null,
        uniqueConstraints: [],
        foreignKeys: [],
        indexes: [],
        checks: [],
      });
    }
    for (const c of columns.rows) {
      byOid.get(c.oid)?.columns.push({ name: c.name, type: c.type, nullable: c.nullable, default: c.default, comment: c.comment });
    }
    for (const k of constraints.rows) {
      const table = byOid.get(k.oid);
      if (!table) continue;
      if (k.type === "p") table.primaryKey = k.columns;
      else if (k.type === "u") table.uniqueConstraints.push({ name: k.name, columns: k.columns });
      else if (k.type === "c") table.checks?.push({ name: k.name, columns: k.columns, definition: checkExpression(k.definition ?? "") });
      else table.foreignKeys.push({ name: k.name, columns: k.columns, references: { schema: k.ref_schema, table: k.ref_table, columns: k.ref_columns } });
    }
    for (const i of indexes.rows) {
      byOid.get(i.oid)?.indexes.push({ name: i.name, definition: i.definition, unique: i.unique, primary: i.primary });
    }
    return { version: 1, serverVersion: version.rows[0]?.server_version ?? "", tables: [...byOid.values()] };
  } finally {
    await client.end().catch(() => {});
  }
}

/** "CHECK ((quantity > 0)) NOT VALID" → "quantity > 0". */
export function checkExpression(definition: string): string {
  let text = definition.replace(/^CHECK\s*/i, "").replace(/\s+NOT VALID$/i, "").trim();
  while (text.startsWith("(") && text.endsWith(")") && balanced(text.slice(1, -1))) text = text.slice(1, -1).trim();
  return text;
}

function balanced(text: string): boolean {
  let depth = 0;
  for (const ch of text) {
    if (ch === "(") depth++;
    else if (ch === ")" && --depth < 0) return false;
  }
  return depth === 0;
}

export const tableKey = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;
