import { createHmac, randomBytes } from "node:crypto";
import pg from "pg";
import { createChinookDatabase, type TestDatabase } from "@portcullis/db/testing";
import { bindRewriteParams, ROW_FILTER_VIOLATION_MARKER, type RewriteBindings, type Verdict } from "../../src/index.js";
import { EXTRAS_SQL } from "./chinook.js";

/**
 * Ground truth for the `governed` scope (support/scopes.ts), computed WITHOUT our rewrite:
 *  - row filters: PostgreSQL row-level security policies with the same predicates, for a role that
 *    has them, the member attribute read from a setting (`SET LOCAL pc.attr_rep_id = '3'`);
 *  - masks: the masked columns replaced in place by their masked value, each mask written here
 *    again in TypeScript from the design's table (§2.5), independently of rewrite/masks.ts.
 * The original statement run on this copy as that role is what the rewritten statement, run on an
 * untouched copy, must return.
 */
export const ATTRS: Readonly<Record<string, string>> = { rep_id: "3", country: "USA" };
export const MASK_KEY = createHmac("sha256", "governed-suite").update("link key").digest();
export const OTHER_MASK_KEY = createHmac("sha256", "governed-suite").update("another link").digest();

export const MASKS = { email: "email", phone: "last4", fax: "redact", company: "hash" } as const;
const RLS = {
  customer: "support_rep_id = nullif(current_setting('pc.attr_rep_id', true), '')::int",
  invoice: "billing_country = nullif(current_setting('pc.attr_country', true), '')",
};

export function bindings(attributes: Readonly<Record<string, string>> = ATTRS, maskKey: Buffer = MASK_KEY): RewriteBindings {
  return { memberId: "m-1", memberEmail: "m@example.com", keyId: "k-1", linkId: "l-1", teamId: "t-1", attributes, maskKey };
}

const chars = (v: string): string[] => [...v];

/** The design's masks (§2.5), in TypeScript. */
export function maskValue(kind: string, v: string | null, key: Buffer = MASK_KEY): string | null {
  if (v === null) return null;
  switch (kind) {
    case "redact":
      return "***";
    case "partial":
      return chars(v).length > 4 ? `${chars(v)[0]}***${chars(v).at(-1)}` : "***";
    case "email":
      return v.includes("@") ? `***@${v.split("@")[1]}` : "***";
    case "last4":
      return chars(v).length > 4 ? `***${chars(v).slice(-4).join("")}` : "***";
    case "hash":
      return `h:${createHmac("sha256", key).update(v, "utf8").digest("hex").slice(0, 16)}`;
    default:
      throw new Error(`unknown mask ${kind}`);
  }
}

export interface Truth {
  db: TestDatabase;
  role: string;
  /** Clear values of the masked columns on the untouched copy: none may ever appear in a result. */
  clearValues: Set<string>;
  close(): Promise<void>;
}

/** The truth copy: Chinook + extras, masks applied in place, RLS policies for a fresh role. */
export async function createTruthDatabase(options: { masks?: Readonly<Record<string, string>>; rls?: boolean; maskKey?: Buffer } = {}): Promise<Truth> {
  const masks: Readonly<Record<string, string>> = options.masks ?? MASKS;
  const key = options.maskKey ?? MASK_KEY;
  const db = await createChinookDatabase();
  const role = `pc_rls_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  const clearValues = new Set<string>();
  try {
    await admin.query(EXTRAS_SQL);
    const columns = Object.keys(masks);
    const types = await admin.query<{ attname: string; text: boolean }>(
      `SELECT attname, atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) AS text FROM pg_attribute WHERE attrelid = 'customer'::regclass AND attnum > 0`,
    );
    const isText = new Map(types.rows.map((r) => [r.attname, r.text]));
    const rows = await admin.query<Record<string, string | null>>(`SELECT customer_id, ${columns.map((c) => `${c}::text AS ${c}`).join(", ")} FROM customer`);
    for (const row of rows.rows) for (const c of columns) if (row[c] !== null && row[c]!.length > 3) clearValues.add(row[c]!);
    const sets = columns.map((c, i) => `${c} = $${i + 1}`).join(", ");
    for (const row of rows.rows) {
      // redact of a non-text column is NULL of its type (design §2.5); every other mask is text.
      const masked = columns.map((c) => (masks[c] === "redact" && !isText.get(c) ? null : maskValue(masks[c]!, row[c]!, key)));
      await admin.query(`UPDATE customer SET ${sets} WHERE customer_id = $${columns.length + 1}`, [...masked, row.customer_id]);
    }
    await admin.query(`CREATE ROLE ${role} NOLOGIN`);
    await admin.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
    await admin.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    if (options.rls !== false) {
      for (const [table, predicate] of Object.entries(RLS)) {
        await admin.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
        await admin.query(`CREATE POLICY pc_filter ON ${table} USING (${predicate}) WITH CHECK (${predicate})`);
      }
      // A view runs with its owner's rights (a superuser here, who bypasses RLS); as the invoker it
      // applies the policies, which is what our inlining of views over governed tables means.
      for (const v of ["customer_names", "customer_contacts", "nested_contacts"]) await admin.query(`ALTER VIEW ${v} SET (security_invoker = true)`);
    }
  } finally {
    await admin.end();
  }
  return {
    db,
    role,
    clearValues,
    close: async () => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await c.end();
      await db.drop();
      const root = new pg.Client({ connectionString: process.env.TEST_PG_URL });
      await root.connect();
      await root.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await root.end();
    },
  };
}

export interface Outcome {
  ok: boolean;
  fields?: string[];
  /** Rows as JSON texts, sorted: compared as a multiset. */
  rows?: string[];
  /** Rows written or returned (a checked write without RETURNING returns zero-column rows, one per row). */
  count?: number;
  code?: string;
  message?: string;
  /** The governed tables' unmasked columns after the statement (writes), before the rollback. */
  state?: string;
}

const STATE_SQL = [
  "SELECT customer_id, first_name, last_name, address, city, state, country, postal_code, support_rep_id FROM customer ORDER BY customer_id",
  "SELECT * FROM invoice ORDER BY invoice_id",
];

/** Statement timeout of both sides (the fuzz suite lowers it: a runaway cross join must not stall it). */
export const limits = { statementTimeout: "5s" };

async function capture(client: pg.Client, text: string, values: unknown[], before: () => Promise<void>, write: boolean): Promise<Outcome> {
  await client.query("BEGIN");
  try {
    await client.query("SET LOCAL search_path = public");
    await client.query(`SET LOCAL statement_timeout = '${limits.statementTimeout}'`);
    await before();
    const r = await client.query({ text, values, rowMode: "array" });
    const fields = r.fields.map((f) => f.name);
    const rows = fields.length > 0 ? r.rows.map((row) => JSON.stringify(row)).sort() : [];
    const outcome: Outcome = { ok: true, fields, rows, count: r.rowCount ?? 0 };
    if (write) {
      await client.query("RESET ROLE");
      const parts: string[] = [];
      for (const sql of STATE_SQL) parts.push(JSON.stringify((await client.query({ text: sql, rowMode: "array" })).rows));
      outcome.state = parts.join("\n");
    }
    return outcome;
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { ok: false, code: err.code, message: err.message };
  } finally {
    await client.query("ROLLBACK");
  }
}

/** The checked statement as the gateway runs it: the rewrite (or the caller's text) with bound values. */
export function runOurs(client: pg.Client, sql: string, verdict: Verdict, who: RewriteBindings, write: boolean): Promise<Outcome> {
  const text = verdict.rewrite?.sql ?? sql;
  const values = verdict.rewrite ? bindRewriteParams(verdict.rewrite.params, who) : [];
  return capture(client, text, values as unknown[], async () => {}, write);
}

/** The caller's statement as the RLS role on the truth copy, with the member's attributes as settings. */
export function runTruth(client: pg.Client, truth: Truth, sql: string, attributes: Readonly<Record<string, string>>, write: boolean): Promise<Outcome> {
  return capture(
    client,
    sql,
    [],
    async () => {
      for (const [name, value] of Object.entries(attributes)) await client.query(`SELECT set_config($1, $2, true)`, [`pc.attr_${name}`, value]);
      await client.query(`SET LOCAL ROLE ${truth.role}`);
    },
    write,
  );
}

/** Every cell of a result, as text, that equals (or contains) a clear value of a masked column. */
export function clearValuesIn(outcome: Outcome, clear: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (const row of outcome.rows ?? []) {
    for (const v of clear) if (row.includes(JSON.stringify(v).slice(1, -1))) found.push(v);
  }
  return found;
}

export function rlsRefused(o: Outcome): boolean {
  return !o.ok && /row-level security/.test(o.message ?? "");
}

/**
 * Where we knowingly differ from RLS, and why it is no weaker (each is in the report):
 *  - RLS checks a proposed row before the table's own constraints (NOT NULL, unique, foreign keys);
 *    our check reads the written row, so a row that also breaks a constraint fails on the
 *    constraint first (class 23). Both refuse and nothing is written. A unique violation names a key
 *    that exists outside the filter, which RLS reveals too for a proposed row inside the filter.
 *  - RLS checks the proposed row of INSERT … ON CONFLICT DO NOTHING even when a conflict skips it;
 *    a skipped row is never written, so we do not check it: nothing is written either way, and the
 *    conflict it reveals is revealed by RLS too for a proposed row inside the filter.
 *  - INSERT … ON CONFLICT DO UPDATE on an existing row outside the filter: RLS evaluates the caller's
 *    ON CONFLICT WHERE on that row first (a false WHERE skips it silently, a cast error names its
 *    values), we refuse it before the caller's WHERE or SET reads it, whatever they say. Nothing is
 *    written either way.
 */
const TOLERATED: { pattern: RegExp; when: (mine: Outcome, baseline: string | undefined) => boolean }[] = [
  { pattern: /^(INSERT|UPDATE)\b/, when: (mine) => !mine.ok && /^23/.test(mine.code ?? "") },
  { pattern: /ON CONFLICT (\([^)]*\) )?DO NOTHING/, when: (mine, baseline) => mine.ok && mine.count === 0 && baseline !== undefined && mine.state === baseline },
];
/**
 * Found by the fuzz suite: a table's primary key makes its other columns functionally dependent, so
 * `SELECT * FROM customer GROUP BY customer_id` runs; over the substituted source subquery that
 * knowledge is gone and PostgreSQL refuses the statement (42803). An error, never a leak.
 */
const OUR_EXTRA_ERRORS: { code: string; message: RegExp }[] = [{ code: "42803", message: /must appear in the GROUP BY clause/ }];

/** Our outcome agrees with RLS's: same rows/state, or both refused (RLS's violation = our marker). */
export function agree(sql: string, mine: Outcome, theirs: Outcome, baseline?: string): string | undefined {
  if (rlsRefused(theirs)) {
    if (!mine.ok && mine.code === "22P02" && mine.message!.includes(ROW_FILTER_VIOLATION_MARKER)) return undefined;
    if (TOLERATED.some((t) => t.pattern.test(sql) && t.when(mine, baseline))) return undefined;
    return `${sql}\n  RLS refused (${theirs.message}) but we: ${mine.ok ? "succeeded" : mine.message}`;
  }
  if (!theirs.ok) return mine.ok || mine.code !== theirs.code ? `${sql}\n  RLS: ${theirs.code} ${theirs.message}; we: ${mine.ok ? "succeeded" : `${mine.code} ${mine.message}`}` : undefined;
  if (!mine.ok) {
    const conflictFirst = /ON CONFLICT .*DO UPDATE/.test(sql) && mine.code === "22P02" && mine.message!.includes(`${ROW_FILTER_VIOLATION_MARKER}:conflict`);
    if (conflictFirst && theirs.count === 0 && baseline !== undefined && theirs.state === baseline) return undefined;
    if (OUR_EXTRA_ERRORS.some((e) => e.code === mine.code && e.message.test(mine.message ?? ""))) return undefined;
    return `${sql}\n  RLS succeeded, we failed: ${mine.code} ${mine.message}`;
  }
  if (JSON.stringify(mine.fields) !== JSON.stringify(theirs.fields)) return `${sql}\n  columns ${JSON.stringify(mine.fields)} vs RLS ${JSON.stringify(theirs.fields)}`;
  if (JSON.stringify(mine.rows) !== JSON.stringify(theirs.rows)) return `${sql}\n  rows differ: ${mine.rows!.length} vs RLS ${theirs.rows!.length}: ${mine.rows!.slice(0, 2).join(" ")} | ${theirs.rows!.slice(0, 2).join(" ")}`;
  if (mine.count !== theirs.count) return `${sql}\n  ${mine.count} rows vs RLS ${theirs.count}`;
  if (mine.state !== theirs.state) return `${sql}\n  table state after the write differs`;
  return undefined;
}
