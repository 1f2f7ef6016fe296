import { CORPUS } from "../corpus.js";

/** Small deterministic PRNG (mulberry32): the same seed gives the same statements on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Tables and columns of the fixture, hidden ones included: the generator aims at them on purpose.
const TABLES: Record<string, string[]> = {
  album: ["album_id", "title", "artist_id"],
  artist: ["artist_id", "name"],
  track: ["track_id", "name", "album_id", "genre_id", "composer", "milliseconds", "bytes", "unit_price"],
  genre: ["genre_id", "name"],
  customer: ["customer_id", "first_name", "last_name", "country", "email", "phone", "address", "fax", "support_rep_id"],
  employee: ["employee_id", "first_name", "last_name", "title", "email", "reports_to"],
  invoice: ["invoice_id", "customer_id", "total", "billing_country"],
  invoice_line: ["invoice_line_id", "invoice_id", "track_id", "unit_price", "quantity"],
  "hr.salary": ["employee_id", "amount"],
  note: ["id", "body"],
  secret_note: ["id", "body", "classified"],
  employee_directory: ["employee_id", "first_name", "email"],
  customer_contacts: ["customer_id", "first_name", "email", "phone"],
  customer_names: ["customer_id", "first_name", "last_name", "country"],
  "sales.region": ["region_id", "name"],
  pg_class: ["relname", "relkind"],
  "information_schema.columns": ["table_name", "column_name"],
  pg_stats: ["tablename", "attname", "most_common_vals"],
};
const FUNCTIONS = [
  "lower", "upper", "length", "coalesce", "md5", "row_to_json", "to_jsonb", "count", "sum", "max", "now",
  "employee_count", "customer_email", "definer_salary", "album_title", "add_one", "bump_genre", "track_count",
  "pg_sleep", "set_config", "pg_read_file", "lo_get", "nextval", "to_regclass", "pg_get_viewdef", "current_setting",
  "txid_current", "pg_advisory_lock", "query_to_xml", "pg_backend_pid", "format", "json_agg",
];
const KEYWORDS = ["SELECT", "FROM", "WHERE", "*", ",", "(", ")", ";", "UNION", "JOIN", "NATURAL", "USING", "AS", "INTO", "FOR UPDATE", "WITH", "DELETE", "RETURNING", "'", '"', "::regclass", "LATERAL", "ONLY", "TABLE", "EXPLAIN ANALYZE", "$$", "--", "/*"];

export function generateStatements(count: number, seed = 42): string[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const tableNames = Object.keys(TABLES);
  const out: string[] = [];

  const column = (alias: string, table: string): string => {
    const c = pick(TABLES[table]!);
    const roll = r();
    if (roll < 0.08) return `${alias}.*`;
    if (roll < 0.12) return alias;
    if (roll < 0.16) return `row_to_json(${alias})`;
    if (roll < 0.5) return `${alias}.${c}`;
    return c;
  };
  const expr = (alias: string, table: string, depth: number): string => {
    const roll = r();
    if (depth > 2 || roll < 0.35) return column(alias, table);
    if (roll < 0.55) return `${pick(FUNCTIONS)}(${expr(alias, table, depth + 1)})`;
    if (roll < 0.65) return `'${pick(["x", "employee", "hr.salary", "customer", "album"])}'::${pick(["text", "regclass"])}`;
    if (roll < 0.8) return `(SELECT ${pick(["1", "count(*)", "max(email)", "*"])} FROM ${pick(tableNames)} LIMIT 1)`;
    return `${expr(alias, table, depth + 1)} ${pick(["=", "||", "===", "+", "<"])} ${expr(alias, table, depth + 1)}`;
  };
  const select = (depth: number): string => {
    const t1 = pick(tableNames);
    const parts = [`SELECT ${r() < 0.15 ? "*" : Array.from({ length: 1 + Math.floor(r() * 3) }, () => expr("a", t1, depth)).join(", ")}`];
    let from = `${r() < 0.1 ? "ONLY " : ""}${t1} a`;
    if (r() < 0.4) {
      const t2 = pick(tableNames);
      const kind = pick(["JOIN", "NATURAL JOIN", "LEFT JOIN", "CROSS JOIN"]);
      from += ` ${kind} ${t2} b`;
      if (kind === "JOIN" || kind === "LEFT JOIN") from += r() < 0.5 ? ` USING (${pick(TABLES[t2]!)})` : ` ON ${column("a", t1)} = ${column("b", t2)}`;
    }
    if (depth < 2 && r() < 0.15) from = `(${select(depth + 1)}) a`;
    parts.push(`FROM ${from}`);
    if (r() < 0.5) parts.push(`WHERE ${expr("a", t1, depth)} IS NOT NULL`);
    if (r() < 0.2) parts.push(`GROUP BY ${pick(["1", column("a", t1)])}`);
    if (r() < 0.3) parts.push(`ORDER BY ${pick(["1", "2", column("a", t1)])}`);
    if (r() < 0.05) parts.push("FOR UPDATE");
    let sql = parts.join(" ");
    if (r() < 0.15) sql = `WITH w AS (${sql}) SELECT ${pick(["*", "count(*)", "w"])} FROM w`;
    if (r() < 0.1) sql = `${sql} UNION ${select(depth + 1)}`;
    if (r() < 0.05) sql = `EXPLAIN ${sql}`;
    return sql;
  };
  const corpus = CORPUS.map((c) => c.sql).filter((s) => s.length < 2000);
  const mutate = (sql: string): string => {
    const tokens = sql.split(/(\s+|[(),;.])/).filter((t) => t !== "");
    const n = 1 + Math.floor(r() * 3);
    for (let i = 0; i < n && tokens.length; i++) {
      const at = Math.floor(r() * tokens.length);
      const roll = r();
      if (roll < 0.3) tokens[at] = pick([...tableNames, ...Object.values(TABLES).flat()]);
      else if (roll < 0.45) tokens.splice(at, 1);
      else if (roll < 0.6) tokens.splice(at, 0, ` ${pick(KEYWORDS)} `);
      else if (roll < 0.7) tokens[at] = tokens[at]!.toUpperCase();
      else if (roll < 0.8) tokens[at] = `"${tokens[at]}"`;
      else if (roll < 0.9) tokens.splice(at, 0, tokens[at]!);
      else tokens[at] = String.fromCharCode(32 + Math.floor(r() * 95));
    }
    return tokens.join("");
  };
  while (out.length < count) {
    const roll = r();
    if (roll < 0.5) out.push(select(0));
    else if (roll < 0.9) out.push(mutate(pick(corpus)));
    else out.push(`${select(0)}; ${mutate(pick(corpus))}`);
  }
  return out;
}
