import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import pg from "pg";
import { loadCatalog } from "../catalog/load.js";
import { createPolicyChecker } from "../decide/checker.js";
import { bindRewriteParams, type BoundValue } from "../rewrite/bind.js";
import type { StatementRewrite } from "../rewrite/types.js";
import { MEMBER_ATTRIBUTE_NAME, parseScope } from "../scope/schema.js";

const USAGE = `usage: pnpm policy check --scope FILE --database-url URL [--member-attr NAME=VALUE ...] < queries.jsonl

Reads JSON lines {"id": ..., "sql": "..."} on stdin and writes one line per input:
  {"id": ..., "verdict": "allow" | "block", "rule": <rule id or null>, "reason": <text or null>}
plus, when the link's row filters, masks or catalog filters rewrote an allowed statement,
  "rewritten": {"sql": <the statement that would run>, "params": [<values of $firstParam…>], "firstParam": n,
                "attributes": [<member attribute names bound>], "notes": [...]}
with --member-attr values bound as {{member.attr.NAME}} (a missing attribute binds null; member, key,
link and team ids and the hash mask key are null here).
A line that is not valid JSON or has no "sql" string yields {"id": ..., "error": "..."}; the rest go on.`;

/** Bound values as JSON: bytes as PostgreSQL's hex bytea text. */
function jsonValue(value: BoundValue): unknown {
  return Buffer.isBuffer(value) ? `\\x${value.toString("hex")}` : value;
}

function rewritten(rewrite: StatementRewrite, attributes: Record<string, string>): Record<string, unknown> {
  const params = bindRewriteParams(rewrite.params, { memberId: null, memberEmail: null, keyId: null, linkId: "", teamId: "", attributes, maskKey: null }).map(
    (value, i) => (rewrite.params[i]!.kind === "link.id" || rewrite.params[i]!.kind === "team.id" ? null : jsonValue(value)),
  );
  return { sql: rewrite.sql, params, firstParam: rewrite.firstParam, attributes: rewrite.attributes, notes: rewrite.notes };
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "check") {
    process.stderr.write(`${USAGE}\n`);
    return command === "--help" || command === "-h" ? 0 : 2;
  }
  let values: { scope?: string; "database-url"?: string; "member-attr"?: string[] };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { scope: { type: "string" }, "database-url": { type: "string" }, "member-attr": { type: "string", multiple: true } },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!values.scope || !values["database-url"]) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const attributes: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const pair of values["member-attr"] ?? []) {
    const eq = pair.indexOf("=");
    const name = eq > 0 ? pair.slice(0, eq) : "";
    if (!MEMBER_ATTRIBUTE_NAME.test(name)) {
      process.stderr.write(`--member-attr takes NAME=VALUE with NAME of lower-case letters, digits and _ (starting with a letter); got ${JSON.stringify(pair)}\n`);
      return 2;
    }
    attributes[name] = pair.slice(eq + 1);
  }
  let text: string;
  try {
    text = await readFile(values.scope, "utf8");
  } catch (error) {
    process.stderr.write(`cannot read scope file: ${(error as Error).message}\n`);
    return 2;
  }
  const parsed = parseScope(text);
  if (!parsed.ok) {
    for (const e of parsed.errors) process.stderr.write(`scope ${e.path}: ${e.message}\n`);
    return 2;
  }
  const client = new pg.Client({ connectionString: values["database-url"] });
  let catalog;
  try {
    await client.connect();
    catalog = await loadCatalog(client);
  } catch (error) {
    process.stderr.write(`cannot load the database catalog: ${(error as Error).message}\n`);
    return 2;
  } finally {
    await client.end().catch(() => {});
  }

  const checker = createPolicyChecker();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let out: Record<string, unknown>;
    let id: unknown = null;
    try {
      const input = JSON.parse(line) as unknown;
      if (input && typeof input === "object" && !Array.isArray(input)) id = (input as { id?: unknown }).id ?? null;
      const sql = (input as { sql?: unknown } | null)?.sql;
      if (typeof sql !== "string") out = { id, error: 'expected an object with a "sql" string' };
      else {
        const v = checker.check(sql, parsed.scope, catalog);
        out = { id, verdict: v.allowed ? "allow" : "block", rule: v.ruleId ?? null, reason: v.reason ?? null };
        if (v.allowed && v.rewrite) out.rewritten = rewritten(v.rewrite, attributes);
      }
    } catch (error) {
      out = { id, error: `invalid JSON: ${(error as Error).message}` };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  return 0;
}

// Run when executed directly (`pnpm policy ...` maps to `tsx packages/policy/src/cli/main.ts`).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
