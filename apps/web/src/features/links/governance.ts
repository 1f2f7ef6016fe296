import type pg from "pg";
import { PortcullisError } from "@portcullis/db/errors";
import { listMemberAttributes, teamMaskSecret } from "@portcullis/db/operations";
import { accessView, bindRewriteParams, createPolicyChecker, isGoverned, maskKeyFor, searchPathFor, type Catalog, type Scope, type Verdict } from "@portcullis/policy";
import { roleAtLeast, requireRole, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { hitRateLimit } from "../../lib/rate-limit";
import { requireValidScope } from "./operations";
import { checkScopeAgainstTarget } from "./scope-check";
import { connectionCatalog, withTargetClient } from "./target-catalog";

/**
 * The scope editor's live preview and mask samples. Both run the *draft* scope's own rewrite of a fixed
 * statement through the policy checker — the same code the gateway runs, never text we splice — against
 * the link's target, in a READ ONLY transaction with a 2 s statement timeout, bound with the chosen
 * member's attributes. Admin/owner only (they may read the target anyway); each run is audited.
 */
const PREVIEW_TIMEOUT_MS = 2000;
const SAMPLE_ROWS = 5;
const SAMPLE_VALUE_CHARS = 200;

// A checker of its own: the dashboard's drafts must not evict the verdicts of anything else.
const checker = createPolicyChecker({ cacheSize: 200 });

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

// Each run opens a connection to the customer's database: bounded per admin, on every dashboard instance.
const RUNS_PER_MINUTE = 60;

async function loadLink(ctx: TeamContext, linkId: string) {
  requireRole(ctx, "admin");
  const limit = await hitRateLimit(`scope-preview:user:${ctx.user.userId}`, RUNS_PER_MINUTE, 60);
  if (!limit.allowed) throw new PortcullisError("unavailable", `too many previews; try again in ${limit.retryAfterSeconds} s`);
  const link = await getPrisma().link.findFirst({ where: { id: linkId, teamId: ctx.team.id }, include: { connection: true } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  return link;
}

/** The member, as the gateway would see them on this link: a team member who may use it. */
async function memberOnLink(ctx: TeamContext, linkId: string, userId: string) {
  const prisma = getPrisma();
  const membership = await prisma.membership.findUnique({ where: { teamId_userId: { teamId: ctx.team.id, userId } }, include: { user: { select: { email: true } } } });
  const granted = membership && (roleAtLeast(membership.role, "admin") || (membership.role === "member" && (await prisma.linkAccess.findUnique({ where: { linkId_userId: { linkId, userId } } }))));
  if (!membership || !granted) throw new PortcullisError("not_found", "that member cannot use this link");
  const [entry] = await listMemberAttributes(prisma, { teamId: ctx.team.id, actorUserId: ctx.user.userId }, { linkId, userId });
  return { userId, email: membership.user.email, attributes: entry?.attributes ?? {} };
}

/** The relation a preview names: it must exist and be visible under the draft scope; with its rule. */
function visibleRelation(scope: Scope, catalog: Catalog, table: string) {
  const view = accessView(scope, catalog);
  const rel = view.relations.get(table);
  if (!rel) throw new PortcullisError("not_found", `no table "${table}" is visible under this scope`);
  const short = rel.relation.schema === "public" ? rel.relation.name : undefined;
  const rule = scope.tables[table] ?? (short !== undefined ? scope.tables[short] : undefined);
  // Views over a governed table and parents of one are governed too, without a rule of their own.
  return { ...rel, rule, governed: view.governed.has(table) || isGoverned(rule) };
}

/** The checked statement to run: refused ones are explained; a governed table without a rewrite fails closed. */
function rewritten(sql: string, scope: Scope, catalog: Catalog, governed: boolean): { verdict: Verdict; sql: string } {
  const verdict = checker.check(sql, scope, catalog);
  if (!verdict.allowed) throw new PortcullisError("invalid_input", `the policy refuses the preview: ${verdict.reason ?? verdict.ruleId}`);
  if (governed && !verdict.rewrite) throw new PortcullisError("unavailable", "the policy did not rewrite this statement for the table's filter or masks; nothing was run");
  return { verdict, sql: verdict.rewrite?.sql ?? sql };
}

async function readOnly<T>(client: pg.Client, scope: Scope, run: () => Promise<T>): Promise<T> {
  await client.query("BEGIN READ ONLY");
  try {
    await client.query(`SET LOCAL statement_timeout = ${PREVIEW_TIMEOUT_MS}`);
    await client.query(`SET LOCAL search_path = ${searchPathFor(scope) || "pg_catalog"}`);
    return await run();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "57014") throw new PortcullisError("unavailable", `the preview took longer than ${PREVIEW_TIMEOUT_MS / 1000} s and was cancelled`);
    // The server's message may quote data of any row (a cast failing on a value): say only that it failed.
    throw new PortcullisError("invalid_input", `the database refused the preview statement${code ? ` (SQLSTATE ${code})` : ""}; check the row filter`);
  } finally {
    await client.query("ROLLBACK").catch(() => {});
  }
}

async function bindings(ctx: TeamContext, linkId: string, member: { userId: string; email: string; attributes: Record<string, string> }, verdict: Verdict) {
  const params = verdict.rewrite?.params ?? [];
  const needsKey = params.some((p) => p.kind === "mask_key_inner" || p.kind === "mask_key_outer");
  const prisma = getPrisma();
  const maskKey = needsKey
    ? maskKeyFor(await teamMaskSecret({ query: async (sql, values) => ({ rows: await prisma.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...values) }) }, ctx.team.id), linkId)
    : null;
  return bindRewriteParams(params, { memberId: member.userId, memberEmail: member.email, keyId: null, linkId, teamId: ctx.team.id, attributes: member.attributes, maskKey });
}

async function audit(ctx: TeamContext, link: { id: string; name: string }, action: string, after: Record<string, unknown>) {
  await getPrisma().$transaction((tx) =>
    recordConfigChange(tx, { teamId: ctx.team.id, actorUserId: ctx.user.userId, action, target: { type: "link", id: link.id, name: link.name }, after, sourceIp: ctx.sourceIp }),
  );
}

export interface PreviewInput {
  linkId: string;
  scope: unknown;
  table: string;
  userId: string;
}

/** "member X would see N of M rows": N through the draft scope's rewrite, M the table's plain count. */
export async function previewRowFilter(ctx: TeamContext, input: PreviewInput) {
  const link = await loadLink(ctx, input.linkId);
  const scope = requireValidScope(input.scope);
  await checkScopeAgainstTarget(scope, link.connection);
  const catalog = await connectionCatalog(link.connection);
  const rel = visibleRelation(scope, catalog, input.table);
  const member = await memberOnLink(ctx, link.id, input.userId);
  const from = `${quoteIdent(rel.relation.schema)}.${quoteIdent(rel.relation.name)}`;
  const { verdict, sql } = rewritten(`SELECT count(*) FROM ${from}`, scope, catalog, rel.governed);
  const values = await bindings(ctx, link.id, member, verdict);
  const counts = await withTargetClient(link.connection, "preview the rows", (client) =>
    readOnly(client, scope, async () => {
      const visible = await client.query<{ count: string }>(sql, values);
      const total = await client.query<{ count: string }>(`SELECT count(*) FROM ${from}`);
      return { visible: Number(visible.rows[0]?.count ?? 0), total: Number(total.rows[0]?.count ?? 0) };
    }),
  );
  await audit(ctx, link, "link.scope.preview", { table: input.table, userId: member.userId, rowFilter: rel.rule?.rowFilter ?? null, attributeNames: verdict.rewrite?.attributes ?? [], ...counts });
  return { ...counts, member: member.email, rewrittenSql: verdict.rewrite?.sql ?? null };
}

export interface SampleInput extends PreviewInput {
  column: string;
}

/** Five values of a column as the draft scope shows them (masked, from rows the member may see). */
export async function sampleMasked(ctx: TeamContext, input: SampleInput) {
  const link = await loadLink(ctx, input.linkId);
  const scope = requireValidScope(input.scope);
  await checkScopeAgainstTarget(scope, link.connection);
  const catalog = await connectionCatalog(link.connection);
  const rel = visibleRelation(scope, catalog, input.table);
  if (!rel.relation.columns.some((c) => c.name === input.column) || rel.hiddenColumns.has(input.column)) throw new PortcullisError("not_found", `no column "${input.column}" is visible on this table`);
  const member = await memberOnLink(ctx, link.id, input.userId);
  const { verdict, sql } = rewritten(`SELECT ${quoteIdent(input.column)} FROM ${quoteIdent(rel.relation.schema)}.${quoteIdent(rel.relation.name)} LIMIT ${SAMPLE_ROWS}`, scope, catalog, rel.governed);
  const values = await bindings(ctx, link.id, member, verdict);
  const rows = await withTargetClient(link.connection, "sample the column", (client) => readOnly(client, scope, async () => (await client.query({ text: sql, values, rowMode: "array" })).rows));
  const sample = rows.slice(0, SAMPLE_ROWS).map((r: unknown[]) => (r[0] === null || r[0] === undefined ? null : String(r[0]).slice(0, SAMPLE_VALUE_CHARS)));
  await audit(ctx, link, "link.scope.sample", { table: input.table, column: input.column, mask: rel.rule?.maskedColumns?.[input.column] ?? null, userId: member.userId, rows: sample.length });
  return { values: sample, member: member.email, rewrittenSql: verdict.rewrite?.sql ?? null };
}
