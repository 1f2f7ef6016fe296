import type pg from "pg";

/**
 * PostgreSQL type names of result columns, as `format_type(oid, NULL)` spells them. Built-in types have
 * fixed OIDs (pg_type.dat), so the common ones need no query at all; anything else (enums, domains,
 * extension types) is looked up once per pool — per target database — and remembered.
 */
const BUILT_IN: ReadonlyMap<number, string> = new Map(
  Object.entries({
    16: "boolean", 17: "bytea", 18: '"char"', 19: "name", 20: "bigint", 21: "smallint", 23: "integer", 24: "regproc", 25: "text",
    26: "oid", 114: "json", 142: "xml", 199: "json[]", 600: "point", 601: "lseg", 602: "path", 603: "box", 604: "polygon", 628: "line",
    650: "cidr", 700: "real", 701: "double precision", 705: "unknown", 718: "circle", 790: "money", 829: "macaddr", 869: "inet",
    1000: "boolean[]", 1001: "bytea[]", 1005: "smallint[]", 1007: "integer[]", 1009: "text[]", 1014: "character[]",
    1015: "character varying[]", 1016: "bigint[]", 1021: "real[]", 1022: "double precision[]", 1042: "character",
    1043: "character varying", 1082: "date", 1083: "time without time zone", 1114: "timestamp without time zone",
    1115: "timestamp without time zone[]", 1182: "date[]", 1184: "timestamp with time zone", 1185: "timestamp with time zone[]",
    1186: "interval", 1231: "numeric[]", 1266: "time with time zone", 1270: "time with time zone[]", 1560: "bit", 1562: "bit varying",
    1700: "numeric", 2205: "regclass", 2206: "regtype", 2249: "record", 2278: "void", 2287: "record[]", 2950: "uuid", 2951: "uuid[]",
    3220: "pg_lsn", 3614: "tsvector", 3615: "tsquery", 3802: "jsonb", 3807: "jsonb[]", 3904: "int4range", 3906: "numrange",
    3908: "tsrange", 3910: "tstzrange", 3912: "daterange", 3926: "int8range", 4089: "regnamespace", 4096: "regrole",
  }).map(([oid, name]) => [Number(oid), name]),
);

const MAX_PER_POOL = 10_000;
const perPool = new WeakMap<pg.Pool, Map<number, string>>();

/** Names for `oids`, in order; a lookup failure names the type "unknown" rather than failing the call. */
export async function columnTypeNames(pool: () => Promise<pg.Pool>, oids: readonly number[]): Promise<string[]> {
  const missing = oids.filter((oid) => !BUILT_IN.has(oid));
  if (missing.length === 0) return oids.map((oid) => BUILT_IN.get(oid)!);
  let known: Map<number, string> | undefined;
  try {
    const target = await pool();
    known = perPool.get(target);
    if (!known) perPool.set(target, (known = new Map()));
    const unknown = [...new Set(missing.filter((oid) => !known!.has(oid)))];
    if (unknown.length > 0) {
      const { rows } = await target.query<{ oid: number; name: string }>(
        "SELECT oid::int AS oid, format_type(oid, NULL) AS name FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])",
        [unknown],
      );
      if (known.size + rows.length > MAX_PER_POOL) known.clear();
      for (const row of rows) known.set(row.oid, row.name);
    }
  } catch {
    // The statement already ran and its rows are here: a failed name lookup must not lose them (not
    // remembered, the next call asks again).
  }
  return oids.map((oid) => BUILT_IN.get(oid) ?? known?.get(oid) ?? "unknown");
}
