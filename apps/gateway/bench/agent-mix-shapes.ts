/**
 * The statement shapes of the agent mix (agent-mix.ts), on Chinook. A family is one query written
 * with fixed-text variants (projection, join path, ordering…); each combination of variants is a
 * distinct shape. Literals come from `Slots`, called the same number of times with the same ranges
 * whatever the variant, so a template's literal space is the product of its slot ranges.
 * Statements a read-only server must refuse are written so that running them changes nothing even
 * where nothing refuses them (negative ids, IF EXISTS on absent objects, ON CONFLICT DO NOTHING),
 * because the ceiling and direct pg run every statement on a connection that is only read-only by default.
 */
import type { Dialect, Slots } from "./agent-mix.js";

export type CallKind = "schema" | "point" | "join" | "aggregate" | "window" | "cte" | "order-limit" | "large" | "refused";

export interface Built {
  tool: string;
  args: Record<string, unknown>;
  sql: string;
}

export interface Shape {
  id: string;
  kind: CallKind;
  build(slots: Slots, dialect: Dialect): Built;
}

const TABLES = ["artist", "album", "track", "invoice", "invoice_line", "customer", "employee", "genre", "media_type", "playlist", "playlist_track"] as const;
const SEARCH_WORDS = ["name", "id", "date", "price", "email", "total", "city", "title", "composer", "country", "phone", "genre", "album", "artist", "invoice", "media", "playlist", "customer", "employee", "address", "postal", "state", "quantity", "bytes", "milliseconds", "hire", "birth", "company", "support", "billing", "unit"] as const;
const WORDS = ["love", "night", "blue", "rock", "day", "heart", "time", "life", "man", "world", "fire", "dream", "soul", "home", "road", "girl", "light", "king", "sun", "rain", "star", "war", "free", "baby", "blues", "dance", "gold", "wild", "sweet", "black", "live", "song", "city", "moon", "power", "you", "me", "one", "all", "way"] as const;
const COUNTRIES = ["USA", "Canada", "Brazil", "France", "Germany", "United Kingdom", "Portugal", "India", "Czech Republic", "Chile", "Ireland", "Hungary", "Austria", "Finland", "Netherlands", "Norway", "Sweden", "Spain", "Poland", "Italy", "Denmark", "Belgium", "Australia", "Argentina"] as const;
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** A two-letter name prefix as people write names (676 values): for ranges and prefixes that need not match. */
const prefix = (s: Slots) => LETTERS[s.int(0, 25)]!.toUpperCase() + LETTERS[s.int(0, 25)]!;
/** An initial (26 values): a prefix most of whose values match some name. */
const initial = (s: Slots) => LETTERS[s.int(0, 25)]!.toUpperCase();
const money = (s: Slots, lo: number, hi: number) => (s.int(lo, hi) / 100).toFixed(2);

function sqlCall(sql: string): Built {
  return { tool: "execute_sql", args: { sql }, sql };
}

/**
 * Every combination of the variant lists becomes a shape. `write` gets the chosen variant texts and
 * must call the slots identically for every combination.
 */
/** The chosen variant texts, one per list (a family has at most three lists). */
type Chosen = [string, string, string];

function family(name: string, kind: CallKind, variants: readonly (readonly string[])[], write: (s: Slots, v: Chosen) => string): Shape[] {
  const combos: number[][] = variants.reduce<number[][]>((acc, list) => acc.flatMap((c) => list.map((_, j) => [...c, j])), [[]]);
  return combos.map((c) => ({
    id: `${name}:${c.join(".")}`,
    kind,
    build: (s) => sqlCall(write(s, c.map((j, k) => variants[k]![j]!) as Chosen)),
  }));
}

/** Schema calls, each in the peer's nearest tool; the SQL dialect sends the information_schema query. */
export const SCHEMA_SHAPES: readonly Shape[] = [
  {
    id: "schema:list-tables",
    kind: "schema",
    build(_s, dialect) {
      const sql = "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name";
      if (dialect === "gateway") return { tool: "list_tables", args: {}, sql };
      if (dialect === "dbhub") return { tool: "search_objects", args: { object_type: "table", schema: "public", detail_level: "summary" }, sql };
      return sqlCall(sql);
    },
  },
  {
    id: "schema:describe-table",
    kind: "schema",
    build(s, dialect) {
      const table = s.pick(TABLES);
      const sql = `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '${table}' ORDER BY ordinal_position`;
      if (dialect === "gateway") return { tool: "describe_table", args: { table }, sql };
      if (dialect === "dbhub") return { tool: "search_objects", args: { object_type: "column", schema: "public", table, detail_level: "full" }, sql };
      return sqlCall(sql);
    },
  },
  {
    id: "schema:search",
    kind: "schema",
    build(s, dialect) {
      const word = s.pick(SEARCH_WORDS);
      const sql = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND (column_name ILIKE '%${word}%' OR table_name ILIKE '%${word}%') ORDER BY 1, 2 LIMIT 20`;
      if (dialect === "gateway") return { tool: "search_objects", args: { query: word, limit: 20 }, sql };
      if (dialect === "dbhub") return { tool: "search_objects", args: { object_type: "column", pattern: `%${word}%`, detail_level: "names", limit: 20 }, sql };
      return sqlCall(sql);
    },
  },
];

export function readShapes(): Shape[] {
  return [...pointShapes(), ...joinShapes(), ...aggregateShapes(), ...windowShapes(), ...cteShapes(), ...orderShapes(), ...largeShapes(), ...refusedShapes()];
}

function pointShapes(): Shape[] {
  return [
    ...family("track-range", "point", [["track_id, name, milliseconds", "track_id, name, composer, unit_price", "*", "name, album_id, genre_id", "track_id, name, bytes"], ["milliseconds >", "bytes / 100 >"]], (s, [cols, cond]) => {
      const a = s.int(1, 3400);
      return `SELECT ${cols} FROM track WHERE track_id BETWEEN ${a} AND ${a + s.int(5, 60)} AND ${cond} ${s.int(30_000, 250_000)} ORDER BY track_id`;
    }),
    ...family("track-name", "point", [["track_id, name, composer", "name, milliseconds", "track_id, name, album_id, unit_price"], ["name", "composer"]], (s, [cols, col]) =>
      `SELECT ${cols} FROM track WHERE ${col} ILIKE '%${s.pick(WORDS)}%' AND milliseconds > ${s.int(60_000, 400_000)} LIMIT ${s.int(5, 100)}`),
    ...family("customer-find", "point", [["customer_id, first_name, last_name, email", "first_name, last_name, city, country", "*"], ["last_name", "first_name", "city"]], (s, [cols, col]) =>
      `SELECT ${cols} FROM customer WHERE ${col} ILIKE '${prefix(s)}%' OR customer_id = ${s.int(1, 59)} LIMIT ${s.int(5, 120)}`),
    ...family("album-of-artist", "point", [["album_id, title", "*", "title"]], (s, [cols]) =>
      `SELECT ${cols} FROM album WHERE artist_id = ${s.int(1, 275)} OR title ILIKE '%${s.pick(WORDS)}%' ORDER BY album_id LIMIT ${s.int(5, 100)} OFFSET ${s.int(0, 20)}`),
    ...family("invoices-of-customer", "point", [["invoice_id, invoice_date, total", "*", "invoice_id, billing_city, billing_country, total"], [">=", "<"]], (s, [cols, op]) =>
      `SELECT ${cols} FROM invoice WHERE customer_id = ${s.int(1, 59)} AND invoice_date ${op} '${s.date()}' ORDER BY invoice_date DESC LIMIT ${s.int(5, 100)}`),
    ...family("lines-of-invoice", "point", [["invoice_line_id, track_id, unit_price, quantity", "*"]], (s, [cols]) =>
      `SELECT ${cols} FROM invoice_line WHERE invoice_id BETWEEN ${s.int(1, 400)} AND ${s.int(400, 412)} AND track_id > ${s.int(0, 3000)} ORDER BY invoice_line_id LIMIT ${s.int(5, 50)}`),
    ...family("playlist-tracks", "point", [["track_id", "playlist_id, track_id"]], (s, [cols]) =>
      `SELECT ${cols} FROM playlist_track WHERE playlist_id = ${s.int(1, 18)} AND track_id > ${s.int(0, 3400)} ORDER BY track_id LIMIT ${s.int(5, 100)}`),
    ...family("employee-find", "point", [["employee_id, first_name, last_name, title", "*"], ["last_name", "city"]], (s, [cols, col]) =>
      `SELECT ${cols} FROM employee WHERE ${col} ILIKE '${prefix(s)}%' OR hire_date >= '${s.date()}'::date - interval '20 years' LIMIT ${s.int(5, 100)}`),
  ];
}

function joinShapes(): Shape[] {
  return [
    ...family("track-album-artist", "join", [["t.name, al.title, ar.name AS artist", "t.track_id, t.name, t.milliseconds, ar.name AS artist", "al.title, count(*) OVER () AS n, t.name"], ["t.track_id", "t.milliseconds DESC", "ar.name, t.name"]], (s, [cols, order]) =>
      `SELECT ${cols} FROM track t JOIN album al ON al.album_id = t.album_id JOIN artist ar ON ar.artist_id = al.artist_id WHERE ar.name ILIKE '${initial(s)}%' AND t.milliseconds > ${s.int(30_000, 300_000)} ORDER BY ${order} LIMIT ${s.int(5, 100)}`),
    ...family("invoice-customer", "join", [["i.invoice_id, i.invoice_date, i.total, c.first_name, c.last_name", "c.email, i.total", "i.*, c.country"], ["i.invoice_date DESC", "i.total DESC", "c.last_name"]], (s, [cols, order]) =>
      `SELECT ${cols} FROM invoice i JOIN customer c ON c.customer_id = i.customer_id WHERE c.country = '${s.pick(COUNTRIES)}' AND i.invoice_date >= '${s.date()}' AND i.total > ${money(s, 0, 1500)} ORDER BY ${order} LIMIT ${s.int(5, 100)}`),
    ...family("sales-lines", "join", [["c.first_name, c.last_name, t.name, il.unit_price * il.quantity AS amount", "i.invoice_date, t.name, g.name AS genre", "c.country, g.name AS genre, il.quantity"]], (s, [cols]) =>
      `SELECT ${cols} FROM invoice_line il JOIN invoice i ON i.invoice_id = il.invoice_id JOIN customer c ON c.customer_id = i.customer_id JOIN track t ON t.track_id = il.track_id JOIN genre g ON g.genre_id = t.genre_id WHERE i.invoice_date BETWEEN ${s.period()} AND c.customer_id > ${s.int(0, 50)} ORDER BY i.invoice_date LIMIT ${s.int(5, 100)}`),
    ...family("track-genre-media", "join", [["t.name, g.name AS genre, m.name AS media", "t.track_id, g.name, m.name, t.unit_price"], ["g.name", "m.name"], ["t.name", "t.bytes DESC"]], (s, [cols, where, order]) =>
      `SELECT ${cols} FROM track t JOIN genre g ON g.genre_id = t.genre_id JOIN media_type m ON m.media_type_id = t.media_type_id WHERE ${where} ILIKE '%${LETTERS[s.int(0, 25)]}%' AND t.track_id BETWEEN ${s.int(1, 3000)} AND ${s.int(3000, 3503)} AND t.milliseconds > ${s.int(1000, 200_000)} ORDER BY ${order} LIMIT ${s.int(5, 100)}`),
    ...family("playlist-content", "join", [["p.name AS playlist, t.name", "t.track_id, t.name, t.composer"], ["t.name", "t.track_id DESC"]], (s, [cols, order]) =>
      `SELECT ${cols} FROM playlist p JOIN playlist_track pt ON pt.playlist_id = p.playlist_id JOIN track t ON t.track_id = pt.track_id WHERE p.playlist_id = ${s.int(1, 18)} AND t.name ILIKE '${initial(s)}%' AND t.milliseconds > ${s.int(0, 300_000)} ORDER BY ${order} LIMIT ${s.int(5, 100)}`),
    ...family("album-tracks", "join", [["al.title, t.name, t.milliseconds", "t.track_id, t.name, al.title", "al.album_id, al.title, count(*) OVER (PARTITION BY al.album_id) AS tracks"], ["t.track_id", "t.milliseconds DESC", "al.title, t.name"]], (s, [cols, order]) =>
      `SELECT ${cols} FROM album al JOIN track t ON t.album_id = al.album_id WHERE (al.title ILIKE '${prefix(s)}%' OR al.album_id = ${s.int(1, 347)}) AND t.milliseconds > ${s.int(0, 300_000)} ORDER BY ${order} LIMIT ${s.int(5, 100)}`),
    ...family("customer-rep", "join", [["c.first_name, c.last_name, e.first_name AS rep_first, e.last_name AS rep_last", "c.email, e.email AS rep_email, e.title"]], (s, [cols]) =>
      `SELECT ${cols} FROM customer c JOIN employee e ON e.employee_id = c.support_rep_id WHERE e.employee_id = ${s.int(1, 8)} OR c.city ILIKE '${prefix(s)}%' OR c.customer_id = ${s.int(1, 59)} ORDER BY c.last_name LIMIT ${s.int(5, 100)}`),
    ...family("employee-manager", "join", [["e.first_name, e.last_name, m.first_name AS manager", "e.title, m.title AS manager_title"]], (s, [cols]) =>
      `SELECT ${cols} FROM employee e LEFT JOIN employee m ON m.employee_id = e.reports_to WHERE e.employee_id >= ${s.int(1, 8)} OR e.hire_date > '${s.date()}'::date - interval '20 years' OR e.last_name ILIKE '${prefix(s)}%' LIMIT ${s.int(5, 100)}`),
  ];
}

function aggregateShapes(): Shape[] {
  return [
    ...family("genre-stats", "aggregate", [["count(*) AS tracks", "avg(t.milliseconds)::int AS avg_ms", "sum(t.bytes) AS bytes, count(*) AS tracks"], ["count(*) >", "avg(t.unit_price) * 100 >"]], (s, [agg, having]) =>
      `SELECT g.name, ${agg} FROM track t JOIN genre g ON g.genre_id = t.genre_id WHERE t.milliseconds > ${s.int(0, 400_000)} AND t.track_id > ${s.int(0, 2000)} GROUP BY g.name HAVING ${having} ${s.int(0, 50)} ORDER BY 2 DESC`),
    ...family("sales-by-country", "aggregate", [["billing_country", "billing_city", "billing_country, billing_state"], ["sum(total)", "count(*)", "avg(total)"]], (s, [group, agg]) =>
      `SELECT ${group}, ${agg} AS value FROM invoice WHERE invoice_date >= '${s.date()}' AND total > ${money(s, 0, 500)} GROUP BY ${group} HAVING ${agg} > ${s.int(0, 20)} ORDER BY value DESC LIMIT ${s.int(5, 50)}`),
    ...family("artist-tracks", "aggregate", [["count(t.track_id)", "sum(t.milliseconds) / 60000"], ["ar.name", "ar.artist_id, ar.name"]], (s, [agg, group]) =>
      `SELECT ${group}, ${agg} AS n FROM artist ar JOIN album al ON al.artist_id = ar.artist_id JOIN track t ON t.album_id = al.album_id WHERE ar.name ILIKE '%${LETTERS[s.int(0, 25)]}%' AND t.unit_price >= ${money(s, 0, 99)} GROUP BY ${group} HAVING count(*) >= ${s.int(1, 40)} ORDER BY n DESC LIMIT ${s.int(5, 50)}`),
    ...family("media-stats", "aggregate", [["m.name", "m.media_type_id, m.name"], ["count(*)", "sum(t.bytes) / 1048576", "avg(t.unit_price)"]], (s, [group, agg]) =>
      `SELECT ${group}, ${agg} AS value FROM track t JOIN media_type m ON m.media_type_id = t.media_type_id WHERE t.track_id > ${s.int(0, 3000)} AND t.milliseconds > ${s.int(0, 300_000)} GROUP BY ${group} HAVING count(*) > ${s.int(0, 20)} ORDER BY value DESC`),
    ...family("customer-revenue", "aggregate", [["date_trunc('year', i.invoice_date)", "date_trunc('month', i.invoice_date)", "extract(quarter FROM i.invoice_date)"]], (s, [period]) =>
      `SELECT c.customer_id, c.last_name, ${period} AS period, sum(i.total) AS revenue FROM customer c JOIN invoice i ON i.customer_id = c.customer_id WHERE c.customer_id BETWEEN ${s.int(1, 40)} AND ${s.int(40, 59)} AND i.invoice_date >= '${s.date()}' GROUP BY 1, 2, 3 HAVING sum(i.total) > ${money(s, 0, 2000)} ORDER BY revenue DESC LIMIT 50`),
    ...family("best-sellers", "aggregate", [["t.name", "t.track_id, t.name", "g.name"], ["sum(il.quantity)", "sum(il.unit_price * il.quantity)"]], (s, [group, agg]) =>
      `SELECT ${group}, ${agg} AS sold FROM invoice_line il JOIN track t ON t.track_id = il.track_id JOIN genre g ON g.genre_id = t.genre_id WHERE il.invoice_id > ${s.int(0, 400)} AND t.milliseconds > ${s.int(0, 300_000)} GROUP BY ${group} HAVING count(*) >= ${s.int(1, 3)} ORDER BY sold DESC LIMIT ${s.int(5, 50)}`),
  ];
}

function windowShapes(): Shape[] {
  return [
    ...family("rank-in-album", "window", [["rank()", "row_number()", "dense_rank()"], ["milliseconds DESC", "bytes DESC", "name"]], (s, [fn, order]) => {
      const a = s.int(1, 340);
      return `SELECT * FROM (SELECT album_id, name, milliseconds, ${fn} OVER (PARTITION BY album_id ORDER BY ${order}) AS r FROM track WHERE album_id BETWEEN ${a} AND ${a + s.int(1, 30)} AND milliseconds > ${s.int(0, 100_000)}) ranked WHERE r <= ${s.int(1, 5)} ORDER BY album_id, r`;
    }),
    ...family("top-per-genre", "window", [["g.name", "g.genre_id"], ["t.milliseconds DESC", "t.unit_price DESC, t.name"], ["row_number()", "rank()"]], (s, [group, order, fn]) =>
      `SELECT * FROM (SELECT ${group} AS genre, t.name, ${fn} OVER (PARTITION BY ${group} ORDER BY ${order}) AS r FROM track t JOIN genre g ON g.genre_id = t.genre_id WHERE t.track_id > ${s.int(0, 3000)} AND t.bytes > ${s.int(0, 5_000_000)}) x WHERE r <= ${s.int(1, 10)} ORDER BY genre, r`),
    ...family("running-total", "window", [["sum(total)", "avg(total)", "count(*)"]], (s, [fn]) =>
      `SELECT invoice_id, invoice_date, total, ${fn} OVER (PARTITION BY customer_id ORDER BY invoice_date ROWS UNBOUNDED PRECEDING) AS running FROM invoice WHERE customer_id IN (${s.int(1, 59)}, ${s.int(1, 59)}) AND invoice_date >= '${s.date()}' ORDER BY customer_id, invoice_date`),
    ...family("gap-between-invoices", "window", [["lag", "lead"]], (s, [fn]) =>
      `SELECT customer_id, invoice_date, invoice_date - ${fn}(invoice_date) OVER (PARTITION BY customer_id ORDER BY invoice_date) AS gap FROM invoice WHERE customer_id BETWEEN ${s.int(1, 55)} AND ${s.int(55, 59)} AND total >= ${money(s, 0, 1000)} ORDER BY gap DESC NULLS LAST LIMIT ${s.int(5, 100)}`),
    ...family("quartiles", "window", [["ntile(4)", "percent_rank()", "cume_dist()"]], (s, [fn]) =>
      `SELECT name, milliseconds, ${fn} OVER (ORDER BY milliseconds) AS q FROM track WHERE genre_id = ${s.int(1, 25)} AND track_id > ${s.int(0, 3000)} ORDER BY q DESC LIMIT ${s.int(5, 100)}`),
  ];
}

function cteShapes(): Shape[] {
  return [
    ...family("top-customers", "cte", [["sum(total)", "count(*)", "max(total)"], ["c.first_name, c.last_name, c.email", "c.country, c.city"]], (s, [agg, cols]) =>
      `WITH spend AS (SELECT customer_id, ${agg} AS amount FROM invoice WHERE invoice_date >= '${s.date()}' GROUP BY customer_id) SELECT ${cols}, spend.amount FROM spend JOIN customer c USING (customer_id) WHERE spend.amount > ${money(s, 0, 600)} ORDER BY spend.amount DESC LIMIT ${s.int(5, 50)}`),
    ...family("long-tracks-by-genre", "cte", [["g.name", "m.name"]], (s, [group]) =>
      `WITH long_tracks AS (SELECT * FROM track WHERE milliseconds > ${s.int(100_000, 600_000)} AND track_id > ${s.int(0, 2000)}) SELECT ${group} AS bucket, count(*) AS n FROM long_tracks lt JOIN genre g ON g.genre_id = lt.genre_id JOIN media_type m ON m.media_type_id = lt.media_type_id GROUP BY 1 ORDER BY n DESC LIMIT ${s.int(5, 30)}`),
    ...family("org-chart", "cte", [["first_name || ' ' || last_name", "title"]], (s, [label]) =>
      `WITH RECURSIVE chain AS (SELECT employee_id, reports_to, ${label} AS label, 1 AS depth FROM employee WHERE employee_id = ${s.int(1, 8)} UNION ALL SELECT e.employee_id, e.reports_to, ${label.replace(/(first_name|last_name|title)/g, "e.$1")}, c.depth + 1 FROM employee e JOIN chain c ON e.employee_id = c.reports_to WHERE c.depth < ${s.int(2, 9)}) SELECT * FROM chain WHERE label NOT ILIKE '${prefix(s)}%' OR depth > ${s.int(0, 99)} ORDER BY depth`),
    ...family("monthly-growth", "cte", [["sum(total)", "count(*)"]], (s, [agg]) =>
      `WITH monthly AS (SELECT date_trunc('month', invoice_date) AS month, ${agg} AS value FROM invoice WHERE billing_country <> '${s.pick(COUNTRIES)}' AND invoice_date >= '${s.date()}' AND total > ${money(s, 0, 199)} GROUP BY 1) SELECT month, value, value - lag(value) OVER (ORDER BY month) AS change FROM monthly ORDER BY month DESC LIMIT ${s.int(5, 60)}`),
  ];
}

function orderShapes(): Shape[] {
  return [
    ...family("track-page", "order-limit", [["track_id, name, milliseconds", "name, composer, unit_price"], ["milliseconds DESC", "name", "bytes", "unit_price DESC, name"]], (s, [cols, order]) =>
      `SELECT ${cols} FROM track WHERE milliseconds > ${s.int(1000, 300_000)} ORDER BY ${order} LIMIT ${s.int(5, 100)} OFFSET ${s.int(0, 400)}`),
    ...family("customer-page", "order-limit", [["customer_id, first_name, last_name", "company, country, email"], ["last_name", "country, city", "customer_id DESC"]], (s, [cols, order]) =>
      `SELECT ${cols} FROM customer WHERE country <> '${s.pick(COUNTRIES)}' AND last_name >= '${prefix(s)}' ORDER BY ${order} LIMIT ${s.int(5, 100)} OFFSET ${s.int(0, 20)}`),
    ...family("invoice-page", "order-limit", [["invoice_id, invoice_date, total", "invoice_id, billing_country, total"], ["total DESC", "invoice_date DESC", "billing_country, total"]], (s, [cols, order]) =>
      `SELECT ${cols} FROM invoice WHERE invoice_date < '${s.date()}' AND total >= ${money(s, 0, 500)} ORDER BY ${order} LIMIT ${s.int(5, 100)}`),
  ];
}

function largeShapes(): Shape[] {
  return [
    // 1,000 to 3,500 rows before any cap: both servers' max rows (1,000) cut them to the same size.
    ...family("track-dump", "large", [["track_id, name, composer, milliseconds", "*", "track_id, name, album_id, genre_id, unit_price"]], (s, [cols]) =>
      `SELECT ${cols} FROM track WHERE track_id > ${s.int(0, 2400)} AND milliseconds > ${s.int(0, 20_000)} ORDER BY track_id`),
    ...family("line-dump", "large", [["invoice_line_id, invoice_id, track_id, unit_price, quantity", "*"]], (s, [cols]) =>
      `SELECT ${cols} FROM invoice_line WHERE invoice_line_id > ${s.int(0, 1200)} AND unit_price > ${money(s, 0, 98)} ORDER BY invoice_line_id LIMIT ${s.int(1000, 1999)}`),
    ...family("playlist-dump", "large", [["pt.playlist_id, t.track_id, t.name", "p.name AS playlist, t.name, t.milliseconds"]], (s, [cols]) =>
      `SELECT ${cols} FROM playlist_track pt JOIN playlist p ON p.playlist_id = pt.playlist_id JOIN track t ON t.track_id = pt.track_id WHERE pt.track_id > ${s.int(0, 2000)} AND t.milliseconds > ${s.int(0, 10_000)} LIMIT ${s.int(1000, 1999)}`),
  ];
}

function refusedShapes(): Shape[] {
  const n = (s: Slots) => s.int(1, 1 << 23);
  return [
    ...family("write-update", "refused", [["track SET unit_price = 0.99 WHERE track_id", "customer SET email = 'agent@example.com' WHERE customer_id", "invoice SET total = total * 1.1 WHERE invoice_id"]], (s, [what]) => `UPDATE ${what} = -${n(s)}`),
    ...family("write-delete", "refused", [["invoice_line WHERE invoice_line_id", "track WHERE track_id", "customer WHERE customer_id"]], (s, [what]) => `DELETE FROM ${what} = -${n(s)}`),
    ...family("write-insert", "refused", [["artist (artist_id, name)", "genre (genre_id, name)"]], (s, [target]) =>
      `INSERT INTO ${target} VALUES (${s.int(1, 25)}, 'agent note ${n(s)}') ON CONFLICT DO NOTHING`),
    ...family("ddl", "refused", [["DROP TABLE IF EXISTS scratch_", "DROP INDEX IF EXISTS idx_scratch_", "DROP VIEW IF EXISTS report_", "ALTER TABLE IF EXISTS scratch_"]], (s, [stmt]) =>
      `${stmt}${n(s)}${stmt.startsWith("ALTER") ? " ADD COLUMN note text" : ""}`),
    ...family("server-files", "refused", [["pg_read_file('/etc/hostname', 0, ", "pg_read_binary_file('/etc/hostname', 0, "]], (s, [fn]) => `SELECT ${fn}${n(s)})`),
    ...family("catalog-abuse", "refused", [["rolname, rolpassword FROM pg_authid WHERE oid <>", "usename, passwd FROM pg_shadow WHERE usesysid <>"]], (s, [from]) => `SELECT ${from} ${n(s)}`),
    ...family("admin-functions", "refused", [["pg_terminate_backend", "pg_cancel_backend"]], (s, [fn]) => `SELECT ${fn}(-${n(s)})`),
    ...family("stacked", "refused", [["DELETE FROM invoice_line WHERE invoice_line_id", "UPDATE track SET name = 'x' WHERE track_id"]], (s, [write]) =>
      `SELECT count(*) FROM track WHERE milliseconds > ${s.int(0, 300_000)}; ${write} = -${n(s)}`),
  ];
}
