/**
 * `npx tsx bench/replay.bench.ts`: replaying a week of a busy link's calls against a draft scope
 * (issue 15, "replay before save"). 100,000 audited calls over ~5,000 distinct Chinook statements
 * (reads over one to four tables with varying predicates, writes, statements the link refuses), the
 * way replayStatements hands them over (grouped by exact text, calls counted). Target: < 2 s.
 *
 * The draft changes a little of everything: album hidden, genre granted writes, invoice under
 * approval, customer behind a row filter with a masked email (so its statements are rewritten and
 * verified on the draft side — the expensive path).
 */
import { readFileSync } from "node:fs";
import { createPolicyChecker, parseScope, policyReady, replayScope, type Catalog, type ReplayStatement, type Scope } from "../src/index.js";

await policyReady();
const catalog = JSON.parse(readFileSync(new URL("../test/fixtures/chinook-catalog.json", import.meta.url), "utf8")) as Catalog;

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}
const current = scope({
  access: "read",
  tables: { employee: { access: "none" }, customer: { hiddenColumns: ["fax"] }, invoice: { access: "write" }, invoice_line: { access: "write" } },
});
const draft = scope({
  access: "read",
  tables: {
    employee: { access: "none" },
    album: { access: "none" },
    genre: { access: "write" },
    customer: { hiddenColumns: ["fax"], rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email" } },
    invoice: { access: "write", approval: "writes" },
    invoice_line: { access: "write", approval: "destructive" },
  },
});

// `$n` varies per distinct text; `$c` picks a country, `$g` a genre name.
const TEMPLATES = [
  "SELECT * FROM album WHERE album_id = $n",
  "SELECT title FROM album WHERE artist_id = $n ORDER BY title",
  "SELECT name, milliseconds FROM track WHERE album_id = $n AND milliseconds > 200000",
  "SELECT count(*) FROM track WHERE genre_id = $n",
  "SELECT first_name, last_name FROM customer WHERE country = '$c' LIMIT $n",
  "SELECT email FROM customer WHERE customer_id = $n",
  "SELECT c.country, sum(i.total) FROM customer c JOIN invoice i USING (customer_id) WHERE i.total > $n GROUP BY c.country",
  "SELECT t.name, a.title, g.name FROM track t JOIN album a USING (album_id) JOIN genre g USING (genre_id) WHERE t.track_id = $n",
  "SELECT il.track_id, sum(il.quantity) FROM invoice_line il JOIN invoice i USING (invoice_id) WHERE i.billing_country = '$c' AND i.invoice_id > $n GROUP BY il.track_id",
  "WITH top AS (SELECT customer_id, sum(total) AS spent FROM invoice GROUP BY customer_id) SELECT c.first_name, top.spent FROM top JOIN customer c USING (customer_id) WHERE top.spent > $n",
  "UPDATE invoice SET total = total + 1 WHERE invoice_id = $n",
  "DELETE FROM invoice_line WHERE invoice_line_id = $n",
  "INSERT INTO genre (genre_id, name) VALUES ($n, '$g')",
  "UPDATE genre SET name = '$g' WHERE genre_id = $n",
  "SELECT first_name, salary FROM employee WHERE employee_id = $n",
  "SELECT fax FROM customer WHERE customer_id = $n",
  "DELETE FROM album WHERE album_id = $n",
  "SELEC * FROM track WHERE track_id = $n",
  "SELECT name FROM playlist p JOIN playlist_track pt USING (playlist_id) WHERE pt.track_id = $n",
  "SELECT title FROM album WHERE title ILIKE '%$g%' LIMIT $n",
];
const COUNTRIES = ["USA", "Canada", "Brazil", "France", "Germany", "India"];
const GENRES = ["Rock", "Jazz", "Metal", "Blues", "Latin"];

const DISTINCT = 5000;
const CALLS = 100_000;
// Zipf-like: a few texts are called very often, most a handful of times (as an agent's traffic is).
const weights = Array.from({ length: DISTINCT }, (_, i) => 1 / (i + 1) ** 0.8);
const total = weights.reduce((a, b) => a + b, 0);
let assigned = 0;
const statements: ReplayStatement[] = weights.map((w, i) => {
  const calls = i === DISTINCT - 1 ? Math.max(1, CALLS - assigned) : Math.max(1, Math.round((w / total) * CALLS));
  assigned += calls;
  const sql = TEMPLATES[i % TEMPLATES.length]!.replace(/\$n/g, String(i + 1))
    .replace("$c", COUNTRIES[i % COUNTRIES.length]!)
    .replace("$g", GENRES[i % GENRES.length]!);
  return { sql, calls, lastSeen: new Date(Date.UTC(2026, 11, 1 + (i % 7))).toISOString() };
});

function run(label: string, input: ReplayStatement[]): void {
  const started = performance.now();
  const report = replayScope({ checker: createPolicyChecker({ cacheSize: 0 }), catalog, current, draft, statements: input });
  const ms = performance.now() - started;
  const groups = (g: { ruleId: string; calls: number }[]) => g.map((x) => `${x.ruleId} ${x.calls}`).join(", ") || "-";
  console.log(`${label}: ${report.statements} distinct texts, ${report.calls} calls in ${ms.toFixed(0)} ms (${ms < 2000 ? "meets" : "misses"} < 2 s)`);
  console.log(`  became blocked: ${groups(report.becameBlocked)}`);
  console.log(`  became allowed: ${groups(report.becameAllowed)}`);
  console.log(`  rule changed:   ${groups(report.ruleChanged)}`);
  console.log(`  approval:       ${groups(report.approvalChanged)}`);
  console.log(`  unchanged:      ${report.unchanged} calls`);
}

// The first run pays the JIT and the parser warming up (a fresh process); the last one is a warm server.
run("grouped (as replayStatements returns them), fresh process", statements);
// The same week as one row per call (an unlikely caller, but replay must not check a text twice).
const rows: ReplayStatement[] = statements.flatMap((s) => Array.from({ length: s.calls }, () => ({ ...s, calls: 1 })));
run("one row per call", rows);
run("grouped again, warm process", statements);
const load = (await import("node:os")).loadavg()[0]!;
console.log(`load average while measuring: ${load.toFixed(1)} on ${(await import("node:os")).cpus().length} cores`);
