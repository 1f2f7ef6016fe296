import pg from "pg";
import type { PrismaClient } from "../client.js";
import { PortcullisError } from "../errors.js";
import { openTargetRoute, type TargetRouteOptions } from "../target-route.js";
import { pinTargetSession, type TargetConnectionRow } from "../target.js";
import { explainConnectionError } from "./connections.js";
import type { SavedTool } from "./link-tool-schema.js";

/**
 * The policy functions the save-time check needs. `@portcullis/db` does not depend on the policy
 * package (the policy's tests depend on this one), so callers hand it in: `import * as policy from
 * "@portcullis/policy"` satisfies this interface as it is.
 */
export interface SavedToolPolicy {
  parseScope(input: unknown): { ok: true; scope: unknown } | { ok: false; errors: { path: string; message: string }[] };
  loadCatalog(client: pg.ClientBase): Promise<unknown>;
  createPolicyChecker(options?: { cacheSize?: number }): { check(sql: string, scope: unknown, catalog: unknown): SavedToolVerdict };
}

export interface SavedToolVerdict {
  allowed: boolean;
  statementCount: number;
  classes: readonly string[];
  readOnly: boolean;
  reason?: string;
}

export interface SavedToolCheckDeps {
  policy: SavedToolPolicy;
  /** How to reach the target (the operator's target policy by default; tests pass one allowing loopback). */
  route?: TargetRouteOptions;
  /** Replaces `policy.loadCatalog` (tests); the placeholder check still asks the server. */
  loadCatalog?: (client: pg.ClientBase) => Promise<unknown>;
}

export type SavedToolCheck =
  /** connectionId: the connection the statement was checked on — the one the saved tool is bound to. */
  | { ok: true; databaseName: string; connectionId: string; classes: string[]; readOnly: boolean; parameterTypes: string[] }
  | { ok: false; databaseName: string; reason: string };

/** A link's database as the check needs it: its name, its scope document and the connection that reaches it. */
interface CheckedDatabase {
  name: string;
  scope: unknown;
  connection: TargetConnectionRow & { name: string };
}

const CONNECTION_INCLUDE = { sshHops: { orderBy: { position: "asc" } } } as const;

/**
 * The database a tool runs on: the link's first (its own connection and scope) when `databaseName` is
 * null, else the further database of that name. Unknown → invalid_input naming the link's databases.
 */
async function databaseOf(prisma: PrismaClient, teamId: string, linkId: string, databaseName: string | null): Promise<CheckedDatabase> {
  const link = await prisma.link.findFirst({ where: { id: linkId, teamId }, include: { connection: { include: CONNECTION_INCLUDE } } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  if (databaseName === null || databaseName === link.databaseName) return { name: link.databaseName, scope: link.scope, connection: link.connection as never };
  const further = await prisma.linkDatabase.findMany({
    where: { linkId, teamId },
    orderBy: { position: "asc" },
    include: { connection: { include: CONNECTION_INCLUDE } },
  });
  const found = further.find((d) => d.name === databaseName);
  if (!found) {
    const names = [link.databaseName, ...further.map((d) => d.name)].join(", ");
    throw new PortcullisError("invalid_input", `this link has no database named ${JSON.stringify(databaseName)}; it has: ${names}`);
  }
  return { name: found.name, scope: found.scope, connection: found.connection as never };
}

const STATEMENT_NAME = "portcullis_saved_tool_check";

/**
 * The parameters PostgreSQL sees in the statement, by its own parser: PREPARE (parse analysis only,
 * nothing runs, inside a READ ONLY transaction that is rolled back), then the types it inferred for
 * $1..$n. A placeholder that is skipped (a $2 without a $1) or whose type cannot be told fails here
 * with the server's words; a `$1` inside a string or a comment is not a placeholder, as the server says.
 * The text is the one statement the policy parsed (spliced after PREPARE … AS, on its own line so a
 * trailing line comment closes before anything else).
 */
async function parameterTypes(client: pg.Client, sql: string): Promise<{ ok: true; types: string[] } | { ok: false; reason: string }> {
  await client.query("BEGIN READ ONLY");
  try {
    await client.query("SET LOCAL statement_timeout = 10000");
    await client.query("SET LOCAL lock_timeout = 2000");
    try {
      await client.query(`PREPARE ${STATEMENT_NAME} AS\n${sql}\n`);
    } catch (error) {
      const message = (error as { message?: string }).message ?? String(error);
      const unknown = /could not determine data type of parameter \$(\d+)/.exec(message);
      if (unknown)
        return { ok: false, reason: `$${unknown[1]} is not used, or is used where its type cannot be told: use every parameter $1..$n, and cast where needed ($${unknown[1]}::integer)` };
      if (/syntax error at or near/.test(message) && !/^\s*(select|with|values|table|insert|update|delete|merge|\(|--|\/\*)/i.test(sql))
        return { ok: false, reason: "a saved tool is one SELECT, WITH, VALUES, INSERT, UPDATE, DELETE or MERGE statement" };
      return { ok: false, reason: `PostgreSQL does not accept the statement: ${message}` };
    }
    const { rows } = await client.query<{ types: string[] }>(`SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = $1`, [STATEMENT_NAME]);
    return { ok: true, types: rows[0]?.types ?? [] };
  } finally {
    await client.query("ROLLBACK").catch(() => {});
  }
}

// Built-in types PostgreSQL may infer for a placeholder, and the declared types whose JSON values it
// takes. Text types take any value (they are text anyway); a type not listed (a domain, an enum, json)
// is left to the server at run time rather than refused on a guess.
const NUMERIC = ["smallint", "integer", "bigint", "numeric", "real", "double precision"];
const TAKES: Record<string, readonly string[]> = {
  ...Object.fromEntries(NUMERIC.map((t) => [t, ["integer", "number"]])),
  boolean: ["boolean"],
  date: ["date", "timestamp"],
  "timestamp without time zone": ["date", "timestamp"],
  "timestamp with time zone": ["date", "timestamp"],
  uuid: ["uuid"],
};

/** A parameter whose declared type can never bind where the statement uses it (the call would always fail). */
function typeMismatch(parameters: readonly { name: string; type: string }[], inferred: readonly string[]): string | null {
  for (const [i, p] of parameters.entries()) {
    const takes = TAKES[inferred[i] ?? ""];
    if (p.type === "string" || !takes || takes.includes(p.type)) continue;
    return `$${i + 1} (${p.name}) is declared ${p.type} but the statement uses it as ${inferred[i]}: declare it ${takes[0]}, or cast it in the SQL ($${i + 1}::${p.type === "timestamp" ? "timestamptz" : p.type})`;
  }
  return null;
}

/**
 * The save-time check of a curated tool: the statement, checked by the policy against the scope of the
 * database it runs on and that database's catalog read now (the same checker execute_sql uses), must
 * be allowed and be one statement; its placeholders must be exactly $1..$n for its n parameters, each
 * used. A refusal is an answer in words, not an error; an unreachable database is `unavailable`.
 */
export async function checkSavedTool(
  prisma: PrismaClient,
  input: { teamId: string; linkId: string; tool: Pick<SavedTool, "sql" | "parameters" | "databaseName"> },
  deps: SavedToolCheckDeps,
): Promise<SavedToolCheck> {
  const database = await databaseOf(prisma, input.teamId, input.linkId, input.tool.databaseName);
  const refuse = (reason: string): SavedToolCheck => ({ ok: false, databaseName: database.name, reason });
  const parsed = deps.policy.parseScope(database.scope);
  if (!parsed.ok) return refuse(`the scope of database ${database.name} does not parse (${parsed.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}); fix it first`);
  const row = database.connection;
  let route: Awaited<ReturnType<typeof openTargetRoute>> | undefined;
  let client: pg.Client | undefined;
  try {
    route = await openTargetRoute(row, deps.route);
    client = new pg.Client(route.config);
    client.on("error", () => {});
    await client.connect();
    await pinTargetSession(client);
  } catch (error) {
    await client?.end().catch(() => {});
    await route?.close().catch(() => {});
    throw new PortcullisError("unavailable", `could not read the tables of "${row.name}": ${explainConnectionError(error, row)}`);
  }
  try {
    const catalog = await (deps.loadCatalog ?? deps.policy.loadCatalog)(client);
    const verdict = deps.policy.createPolicyChecker({ cacheSize: 0 }).check(input.tool.sql, parsed.scope, catalog);
    if (!verdict.allowed) return refuse(`the scope of database ${database.name} refuses this statement: ${verdict.reason ?? "refused"}`);
    if (verdict.statementCount !== 1) return refuse(`a saved tool is exactly one statement; this SQL has ${verdict.statementCount}`);
    const described = await parameterTypes(client, input.tool.sql);
    if (!described.ok) return refuse(described.reason);
    const declared = input.tool.parameters.length;
    const used = described.types.length;
    if (used !== declared)
      return refuse(
        used > declared
          ? `the SQL uses $${used} but the tool declares ${declared} parameter${declared === 1 ? "" : "s"}: declare one per placeholder, in order`
          : `the tool declares ${declared} parameter${declared === 1 ? "" : "s"} but the SQL uses ${used === 0 ? "no placeholder" : `only $1..$${used}`}: each parameter is bound to its placeholder ($1 for the first)`,
      );
    const mismatch = typeMismatch(input.tool.parameters, described.types);
    if (mismatch) return refuse(mismatch);
    return { ok: true, databaseName: database.name, connectionId: row.id, classes: [...verdict.classes], readOnly: verdict.readOnly, parameterTypes: described.types };
  } finally {
    await client.end().catch(() => {});
    await route.close().catch(() => {});
  }
}
