import pg from "pg";

/**
 * Fills a migrated metadata database with a realistic audit trail for measuring Activity (issue 16:
 * 50 million events). Set-based: one INSERT … SELECT generate_series per (team, day), never a row at a
 * time, with the secondary indexes dropped during the load and built once at the end, and the rollups
 * folded once at the end by the same SQL the triggers run (audit_rollups_rebuild), as a restore would.
 * The statement-shape trigger stays on.
 *
 * Shape of the data: 20 teams, one holding BIG_SHARE of the events, the rest falling off by rank;
 * BENCH_AUDIT_DAYS (95) days; per team links, keys and members in proportion to its size, keys chosen
 * with a power-law skew (a few CI keys carry much of the traffic), each key tied to one member, one
 * link and mostly one client; tools weighted as agents use them; about 10% blocked (12 rules, skewed)
 * and 2% errors; statement texts from about 3,000 shapes with literals varying per event; durations
 * log-normal around 3 ms. prev_hash and hash are empty: the chain is synthetic and Activity does not
 * read it (the output says so).
 */

export interface GenerateOptions {
  events: number;
  days: number;
  teams: number;
  /** Share of all events the biggest team holds. */
  bigShare: number;
  log: (line: string) => void;
  /** Connections loading, indexing and folding side by side (teams, indexes and days split between them). */
  jobs?: number;
}

export interface GeneratedTeam {
  index: number;
  id: string;
  events: number;
  links: number;
  keys: number;
  members: number;
}

/** Deterministic uuids, so the measurement knows which link/key/member ids exist without reading. */
export function syntheticId(kind: "team" | "link" | "key" | "member", team: number, n: number): string {
  const k = { team: 1, link: 2, key: 3, member: 4 }[kind];
  return `00000000-0000-4${k.toString(16).padStart(3, "0")}-8${team.toString(16).padStart(3, "0")}-${n.toString(16).padStart(12, "0")}`;
}

export function teamPlan(o: GenerateOptions): GeneratedTeam[] {
  const rest = o.teams - 1;
  // Ranks 2..N share the remainder by 1/rank: a few mid-sized teams and a long tail.
  const weights = Array.from({ length: rest }, (_, i) => 1 / (i + 2));
  const sum = weights.reduce((a, b) => a + b, 0);
  return Array.from({ length: o.teams }, (_, i) => {
    const events = i === 0 ? Math.round(o.events * o.bigShare) : Math.round((o.events * (1 - o.bigShare) * weights[i - 1]!) / sum);
    const scale = Math.max(1, Math.round(Math.sqrt(events / 10_000)));
    return { index: i, id: syntheticId("team", i, 0), events, links: Math.min(60, 2 + scale), keys: Math.min(400, 3 + 4 * scale), members: Math.min(200, 2 + 2 * scale) };
  });
}

const TABLES = ["customer", "invoice", "invoice_line", "track", "album", "artist", "genre", "employee", "playlist", "playlist_track", "media_type", "orders", "order_items", "products", "payments", "refunds", "shipments", "accounts", "sessions", "events", "users", "teams", "audit_log", "subscriptions", "plans", "coupons", "addresses", "inventory", "warehouses", "suppliers", "reviews", "carts", "wishlists", "tickets", "messages", "notifications", "feature_flags", "experiments", "metrics", "jobs"];
const COLUMNS = ["name", "email", "status", "total", "created_at", "country", "amount", "customer_id", "title", "updated_at"];
const RULES = ["table_not_in_scope", "write_not_allowed", "hidden_column", "ddl_not_allowed", "function_not_allowed", "row_filter_write", "masked_column_predicate", "catalog_hidden", "multiple_statements", "copy_not_allowed", "set_role_refused", "approval_required"];

const arr = (values: string[]) => `ARRAY[${values.map((v) => `'${v}'`).join(",")}]`;

/** One (team, day) of events as a single INSERT … SELECT. */
export function chunkSql(): string {
  return `
WITH r AS (
  SELECT g, random() AS ut, power(random(), 2.5) AS uk, random() AS uv, random() AS ur, random() AS ud1, random() AS ud2,
         power(random(), 2) AS us, random() AS uc, random() AS utool, (random() * 1000000)::int AS lit, random() AS ux
    FROM generate_series(1, $4::int) g
), e AS (
  SELECT r.*, floor($5::int * uk)::int AS k, floor(3200 * us)::int AS s,
         CASE WHEN utool < 0.70 THEN 'execute_sql' WHEN utool < 0.78 THEN 'list_tables' WHEN utool < 0.86 THEN 'describe_table'
              WHEN utool < 0.91 THEN 'get_schema' WHEN utool < 0.96 THEN 'explain_query' WHEN utool < 0.98 THEN 'search_objects' ELSE 'get_permissions' END AS tool,
         CASE WHEN uv < 0.10 THEN 'blocked' WHEN uv < 0.12 THEN 'error' ELSE 'allowed' END AS verdict
    FROM r
), s AS (
  SELECT e.*, (${arr(TABLES)})[1 + s % 40] AS tbl, (${arr(TABLES)})[1 + (s * 7 + 3) % 40] AS tbl2,
         (${arr(COLUMNS)})[1 + (s / 320) % 10] AS col, (s / 40) % 8 AS tpl
    FROM e
)
INSERT INTO audit_events (id, team_id, time, seq, kind, link_id, api_key_id, user_id, client_name, client_version, tool, sql, tables,
                          verdict, rule_id, reason, duration_ms, rows, bytes, error, protocol_version, database_name, target_server, prev_hash, hash)
SELECT gen_random_uuid(), $1::uuid, $2::timestamptz + (ut * 86400) * interval '1 second', $3::bigint + g, 'tool_call',
       ('00000000-0000-4002-8' || lpad(to_hex($8::int), 3, '0') || '-' || lpad(to_hex(k % $6::int), 12, '0'))::uuid,
       ('00000000-0000-4003-8' || lpad(to_hex($8::int), 3, '0') || '-' || lpad(to_hex(k), 12, '0'))::uuid,
       ('00000000-0000-4004-8' || lpad(to_hex($8::int), 3, '0') || '-' || lpad(to_hex(k % $7::int), 12, '0'))::uuid,
       (ARRAY['cursor','claude-code','vscode','claude-desktop','windsurf'])[1 + (k + (uc < 0.08)::int) % 5], '1.' || (k % 9),
       tool,
       CASE WHEN tool IN ('execute_sql', 'explain_query') THEN
         CASE tpl
           WHEN 0 THEN 'SELECT * FROM ' || tbl || ' WHERE id = ' || lit
           WHEN 1 THEN 'SELECT id, ' || col || ' FROM ' || tbl || ' WHERE created_at > now() - interval ''' || lit % 90 || ' days'' LIMIT ' || (10 + lit % 990)
           WHEN 2 THEN 'SELECT count(*) FROM ' || tbl || ' t JOIN ' || tbl2 || ' u ON u.id = t.' || col || ' WHERE t.id > ' || lit
           WHEN 3 THEN 'UPDATE ' || tbl || ' SET ' || col || ' = ' || lit || ' WHERE id = ' || (lit % 9973)
           WHEN 4 THEN 'SELECT ' || col || ', sum(amount) FROM ' || tbl || ' GROUP BY 1 ORDER BY 2 DESC LIMIT ' || (1 + lit % 100)
           WHEN 5 THEN 'SELECT * FROM ' || tbl || ' WHERE ' || col || ' = ''v' || lit || ''''
           WHEN 6 THEN 'DELETE FROM ' || tbl || ' WHERE id = ' || lit
           ELSE 'SELECT id, row_number() OVER (PARTITION BY ' || col || ' ORDER BY id) FROM ' || tbl || ' LIMIT ' || (1 + lit % 500)
         END END,
       CASE WHEN tool IN ('execute_sql', 'explain_query') THEN CASE WHEN tpl = 2 THEN ARRAY['public.' || tbl, 'public.' || tbl2] ELSE ARRAY['public.' || tbl] END
            WHEN tool = 'describe_table' THEN ARRAY['public.' || tbl] ELSE '{}'::text[] END,
       verdict::"AuditVerdict",
       CASE WHEN verdict = 'blocked' THEN (${arr(RULES)})[1 + floor(12 * power(ur, 2))::int] END,
       CASE WHEN verdict = 'blocked' THEN 'refused by the link''s scope' END,
       CASE WHEN verdict = 'allowed' THEN least(60000, exp(ln(3) + 1.1 * sqrt(-2 * ln(greatest(ud1, 1e-12))) * cos(2 * pi() * ud2)))
            WHEN verdict = 'error' THEN 5 + 200 * ud1 ELSE 0.2 + ud1 END,
       CASE WHEN verdict = 'allowed' THEN floor(exp(4 * ud2))::int END,
       CASE WHEN verdict = 'allowed' THEN floor(exp(4 * ud2))::int * 80 END,
       CASE WHEN verdict = 'error' THEN 'canceling statement due to statement timeout' END,
       (ARRAY['2026-07-28','2025-11-25','2025-06-18','2025-03-26'])[1 + floor(4 * power(ux, 2))::int],
       CASE WHEN ux < 0.8 THEN 'main' ELSE 'analytics' END,
       CASE WHEN uc < 0.9 THEN 'primary' ELSE 'replica1' END,
       '', ''
  FROM s`;
}

interface Definition {
  name: string;
  sql: string;
}

/** Secondary indexes and unique constraints of audit_events, dropped for the load. */
async function dropIndexes(client: pg.Client): Promise<Definition[]> {
  const { rows: constraints } = await client.query<{ name: string; def: string }>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'audit_events'::regclass AND contype IN ('p', 'u')`,
  );
  const { rows: indexes } = await client.query<{ name: string; def: string }>(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
      WHERE i.indrelid = 'audit_events'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
  );
  for (const c of constraints) await client.query(`ALTER TABLE audit_events DROP CONSTRAINT ${pg.escapeIdentifier(c.name)}`);
  for (const i of indexes) await client.query(`DROP INDEX ${i.name}`);
  return [
    ...constraints.map((c) => ({ name: c.name, sql: `ALTER TABLE audit_events ADD CONSTRAINT ${pg.escapeIdentifier(c.name)} ${c.def}` })),
    // pg_get_indexdef names a partitioned parent "ON ONLY": that builds no partition's index.
    ...indexes.map((i) => ({ name: i.name, sql: i.def.replace(" ON ONLY ", " ON ") })),
  ];
}

export interface GenerateResult {
  teams: GeneratedTeam[];
  loadSeconds: number;
  indexSeconds: number;
  bytes: { events: number; rollups: number; database: number };
}

export async function generateAuditEvents(url: string, o: GenerateOptions): Promise<GenerateResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const teams = teamPlan(o);
    await client.query(`INSERT INTO teams (id, name, slug) SELECT t.id::uuid, 'Bench team ' || t.i, 'bench-' || t.i FROM unnest($1::text[], $2::int[]) AS t(id, i)`, [teams.map((t) => t.id), teams.map((t) => t.index)]);
    // The big team's members are real users (Activity checks the caller's membership).
    const big = teams[0]!;
    await client.query(
      `INSERT INTO users (id, email) SELECT ('00000000-0000-4004-8000-' || lpad(to_hex(m), 12, '0'))::uuid, 'member' || m || '@bench.test' FROM generate_series(0, $1::int - 1) m`,
      [big.members],
    );
    await client.query(
      `INSERT INTO memberships (team_id, user_id, role) SELECT $1::uuid, ('00000000-0000-4004-8000-' || lpad(to_hex(m), 12, '0'))::uuid, 'member' FROM generate_series(0, $2::int - 1) m`,
      [big.id, big.members],
    );
    // Months back to the first generated day get their own partitions (a fresh database has only the
    // current month onwards; older events would all land in DEFAULT and nothing could be pruned).
    await client.query(
      `DO $$ DECLARE m date; BEGIN
         IF to_regclass('audit_events_default') IS NULL THEN RETURN; END IF;
         m := date_trunc('month', now() AT TIME ZONE 'UTC' - make_interval(days => ${o.days + 1}))::date;
         WHILE m < date_trunc('month', now() AT TIME ZONE 'UTC')::date LOOP
           IF to_regclass('audit_events_p' || to_char(m, 'YYYYMM')) IS NULL THEN
             EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)', 'audit_events_p' || to_char(m, 'YYYYMM'), m::text || ' 00:00:00+00', (m + interval '1 month')::date::text || ' 00:00:00+00');
           END IF;
           m := (m + interval '1 month')::date;
         END LOOP; END $$`,
    );
    const definitions = await dropIndexes(client);
    o.log(`dropped ${definitions.length} indexes and constraints of audit_events for the load`);
    // A bulk load folds the rollups once at the end (audit_rollups_rebuild, one aggregate) instead of
    // per chunk, as a restore would; ingestion's per-batch cost is measured apart (activity.bench.ts).
    await client.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_rollups_add");
    const started = performance.now();
    const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    const sql = chunkSql();
    const jobs = Math.max(1, o.jobs ?? 1);
    // Teams are split between the connections (whole teams: the statement-shape trigger's upserts of
    // one team never meet another connection's), biggest first onto the least loaded.
    const groups: GeneratedTeam[][] = Array.from({ length: jobs }, () => []);
    const loads = new Array<number>(jobs).fill(0);
    for (const team of teams) {
      const i = loads.indexOf(Math.min(...loads));
      groups[i]!.push(team);
      loads[i]! += team.events;
    }
    let done = 0;
    await Promise.all(
      groups.map((group) =>
        withClient(url, async (c) => {
          for (const team of group) {
            let seq = 0;
            for (let d = o.days - 1; d >= 0; d--) {
              // Later days a little busier (adoption grows), so the spread is not flat.
              const share = (1 + (o.days - d) / o.days) / (1.5 * o.days);
              const count = d === 0 ? team.events - seq : Math.max(0, Math.min(team.events - seq, Math.round(team.events * share)));
              if (count <= 0) continue;
              // Today's chunk ends now, so "the last 24 hours" holds a full day.
              const dayStart = d === 0 ? new Date(Date.now() - 86_400_000) : new Date(today - d * 86_400_000);
              await c.query(sql, [team.id, dayStart, seq, count, team.keys, team.links, team.members, team.index]);
              seq += count;
              done += count;
            }
            o.log(`team ${team.index}: ${team.events.toLocaleString()} events (${team.links} links, ${team.keys} keys, ${team.members} members); ${done.toLocaleString()} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
          }
        }),
      ),
    );
    const loadSeconds = (performance.now() - started) / 1000;
    const indexStarted = performance.now();
    // Constraints (ACCESS EXCLUSIVE) one at a time; plain indexes (SHARE locks) side by side.
    const build = async (c: pg.Client, d: Definition) => {
      const t0 = performance.now();
      await c.query(d.sql);
      o.log(`built ${d.name} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    };
    await client.query("SET maintenance_work_mem = '1GB'");
    for (const d of definitions.filter((d) => d.sql.startsWith("ALTER TABLE"))) await build(client, d);
    const queue = definitions.filter((d) => !d.sql.startsWith("ALTER TABLE"));
    await Promise.all(
      Array.from({ length: jobs }, () =>
        withClient(url, async (c) => {
          await c.query(`SET maintenance_work_mem = '${Math.max(256, Math.floor(1024 / jobs))}MB'`);
          for (let d = queue.shift(); d; d = queue.shift()) await build(c, d);
        }),
      ),
    );
    const rollupStarted = performance.now();
    await client.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_rollups_add");
    await foldRollups(url, client, jobs, o.log);
    o.log(`folded the rollups in ${((performance.now() - rollupStarted) / 1000).toFixed(0)} s`);
    await client.query("VACUUM ANALYZE audit_events");
    await client.query("VACUUM ANALYZE audit_rollups");
    await client.query("VACUUM ANALYZE audit_rollup_tables");
    await client.query("VACUUM ANALYZE audit_statements");
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    const { rows } = await client.query<{ events: string; rollups: string; database: string }>(
      `SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname = 'audit_events' OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_events'::regclass))::text AS events,
              (pg_total_relation_size('audit_rollups') + pg_total_relation_size('audit_rollup_tables'))::text AS rollups,
              pg_database_size(current_database())::text AS database`,
    );
    return { teams, loadSeconds, indexSeconds, bytes: { events: Number(rows[0]!.events), rollups: Number(rows[0]!.rollups), database: Number(rows[0]!.database) } };
  } finally {
    await client.end();
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The rollups of the whole loaded trail, folded by the SQL the triggers and audit_rollups_rebuild run
 * (audit_rollup_slices_sql / audit_rollup_table_slices_sql), one UTC day per statement so each
 * aggregate sorts in memory, days split between the connections (disjoint hours: no two statements
 * write the same key). The rollups' primary keys are dropped for the fold and built once after, as
 * a restore would. Only for a freshly loaded database whose rollups are empty.
 */
async function foldRollups(url: string, client: pg.Client, jobs: number, log: (line: string) => void): Promise<void> {
  const { rows: empty } = await client.query<{ n: string }>("SELECT ((SELECT count(*) FROM audit_rollups) + (SELECT count(*) FROM audit_rollup_tables))::text AS n");
  if (empty[0]!.n !== "0") throw new Error("foldRollups: the rollups are not empty");
  const { rows: keys } = await client.query<{ rel: string; name: string; def: string }>(
    `SELECT conrelid::regclass::text AS rel, conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE conrelid IN ('audit_rollups'::regclass, 'audit_rollup_tables'::regclass) AND contype = 'p'`,
  );
  for (const k of keys) await client.query(`ALTER TABLE ${k.rel} DROP CONSTRAINT ${pg.escapeIdentifier(k.name)}`);
  const { rows: span } = await client.query<{ a: Date | null; b: Date | null }>("SELECT min(time) AS a, max(time) AS b FROM audit_events");
  const days: Date[] = [];
  if (span[0]!.a && span[0]!.b) {
    for (let t = Math.floor(span[0]!.a.getTime() / 86_400_000) * 86_400_000; t <= span[0]!.b.getTime(); t += 86_400_000) days.push(new Date(t));
  }
  const started = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: jobs }, () =>
      withClient(url, async (c) => {
        await c.query("SET work_mem = '256MB'");
        for (let day = days.shift(); day; day = days.shift()) {
          const src = `(SELECT * FROM audit_events WHERE time >= ${pg.escapeLiteral(day.toISOString())} AND time < ${pg.escapeLiteral(new Date(day.getTime() + 86_400_000).toISOString())})`;
          const { rows } = await c.query<{ a: string; b: string }>("SELECT audit_rollup_slices_sql($1) AS a, audit_rollup_table_slices_sql($1) AS b", [src]);
          await c.query(`INSERT INTO audit_rollups (team_id, dim, val, hour, verdict, rule_id, lb, n) ${rows[0]!.a}`);
          await c.query(`INSERT INTO audit_rollup_tables (team_id, dim, val, hour, verdict, table_name, n) ${rows[0]!.b}`);
          if (++done % 10 === 0) log(`folded ${done} days in ${((performance.now() - started) / 1000).toFixed(0)} s`);
        }
      }),
    ),
  );
  await client.query("SET maintenance_work_mem = '1GB'");
  for (const k of keys) await client.query(`ALTER TABLE ${k.rel} ADD CONSTRAINT ${pg.escapeIdentifier(k.name)} ${k.def}`);
}
