import type { PgNode } from "../parse/parse.js";
import type { Catalog } from "../catalog/types.js";
import type { RelationAccess } from "../scope/access.js";
import type { StatementAnalyzer } from "./analyzer.js";
import { provenReadOnly } from "./function-writes.js";
import { whereNarrowsTarget } from "./narrowing.js";
import { list, nodeType } from "./tree.js";

export type WriteCommand = "insert" | "update" | "delete" | "merge" | "truncate" | "ddl";

/**
 * What one allowed statement changes, for approvals (issue 15): one effect per written table per
 * statement. `approvalFor` (scope/approval.ts) decides from these alone, so every way a statement can
 * change rows or objects must leave one here — when the target cannot be named, an `opaque` effect.
 */
export interface WriteEffect {
  /** 1-based. */
  statementIndex: number;
  /** "schema.table" written (DDL: the object's table when there is one); null for DDL on no table. */
  table: string | null;
  command: WriteCommand;
  /**
   * DELETE (any); UPDATE whose WHERE narrows by no column of the target (none, constants, parameters,
   * uncorrelated subqueries, UPDATE … FROM joined on the other table only); MERGE with an UPDATE or
   * DELETE action; INSERT … ON CONFLICT DO UPDATE; TRUNCATE; DDL.
   */
  destructive: boolean;
  /** Partition/inheritance ancestors of `table`, nearest first: a table with no approval of its own follows theirs. */
  ancestors?: string[];
  /**
   * Other relations the write reaches, whose own approval applies as well: descendants of a parent
   * written without ONLY, the base tables of an updatable view, tables a TRUNCATE … CASCADE empties.
   */
  through?: string[];
  /**
   * Code runs whose writes cannot be listed (DO, CALL, a user function the catalog does not prove
   * read-only, creating or changing code, DDL whose reach cannot be computed): every rule applies.
   */
  opaque?: true;
  /** With `opaque`: the user functions or procedures whose code runs ("schema.name"), when known. */
  code?: string[];
}

export type PendingEffect = Omit<WriteEffect, "statementIndex">;

/** The frozen empty list every read shares (verdicts are frozen and cached). */
export const NO_WRITES = Object.freeze([]) as unknown as WriteEffect[];

const parentsByCatalog = new WeakMap<Catalog, Map<string, string[]>>();

/** Direct parents per relation, built once per catalog (the catalog records children only). */
function parentMap(catalog: Catalog): Map<string, string[]> {
  let map = parentsByCatalog.get(catalog);
  if (map) return map;
  map = new Map();
  for (const [key, rel] of Object.entries(catalog.relations))
    for (const child of rel.children) {
      const parents = map.get(child);
      if (parents) parents.push(key);
      else map.set(child, [key]);
    }
  parentsByCatalog.set(catalog, map);
  return map;
}

function ancestorsOf(catalog: Catalog, key: string): string[] | undefined {
  const parents = parentMap(catalog);
  const direct = parents.get(key);
  if (!direct) return undefined;
  const out: string[] = [];
  const queue = [...direct];
  while (queue.length) {
    const next = queue.shift()!;
    if (out.includes(next) || next === key) continue;
    out.push(next);
    queue.push(...(parents.get(next) ?? []));
  }
  return out;
}

function descendantsOf(catalog: Catalog, key: string): string[] {
  const out: string[] = [];
  const stack = [...(catalog.relations[key]?.children ?? [])];
  while (stack.length) {
    const next = stack.pop()!;
    if (out.includes(next) || next === key) continue;
    out.push(next);
    stack.push(...(catalog.relations[next]?.children ?? []));
  }
  return out;
}

/** Tables whose foreign keys reference `keys`, transitively: what TRUNCATE … CASCADE also empties. */
function referencingTables(catalog: Catalog, keys: string[]): string[] {
  const out: string[] = [];
  const pending = [...keys];
  while (pending.length) {
    const target = pending.pop()!;
    for (const [key, rel] of Object.entries(catalog.relations))
      if (!keys.includes(key) && !out.includes(key) && rel.foreignKeys.some((fk) => fk.references === target)) {
        out.push(key);
        pending.push(key);
      }
  }
  return out;
}

/**
 * Tables whose rows a DELETE (or UPDATE) of `key`'s rows changes through ON DELETE (ON UPDATE) CASCADE,
 * SET NULL or SET DEFAULT, transitively: the database writes them on the statement's behalf.
 */
function actionTables(catalog: Catalog, key: string, on: "onDelete" | "onUpdate"): string[] {
  const byTarget = fkActionMap(catalog)[on];
  if (!byTarget.has(key)) return [];
  const out: string[] = [];
  const pending = [key];
  while (pending.length) {
    for (const referencing of byTarget.get(pending.pop()!) ?? [])
      if (referencing !== key && !out.includes(referencing)) {
        out.push(referencing);
        pending.push(referencing);
      }
  }
  return out;
}

const actionsByCatalog = new WeakMap<Catalog, { onDelete: Map<string, string[]>; onUpdate: Map<string, string[]> }>();

/** Referenced table → tables with an FK action on it, built once per catalog (most have none). */
function fkActionMap(catalog: Catalog): { onDelete: Map<string, string[]>; onUpdate: Map<string, string[]> } {
  let maps = actionsByCatalog.get(catalog);
  if (maps) return maps;
  maps = { onDelete: new Map(), onUpdate: new Map() };
  for (const [key, rel] of Object.entries(catalog.relations))
    for (const fk of rel.foreignKeys)
      for (const on of ["onDelete", "onUpdate"] as const)
        if (fk[on]) maps[on].set(fk.references, [...(maps[on].get(fk.references) ?? []), key]);
  actionsByCatalog.set(catalog, maps);
  return maps;
}

const RANK: Record<WriteCommand, number> = { insert: 0, update: 1, merge: 2, delete: 3, truncate: 4, ddl: 5 };

/** Adds an effect, merging a second write to the same table in the same statement into one. */
export function addEffect(a: StatementAnalyzer, effect: PendingEffect): void {
  const same = effect.table !== null ? a.writes.find((e) => e.table === effect.table && !e.opaque) : undefined;
  if (!same) {
    a.writes.push(effect);
    return;
  }
  if (RANK[effect.command] > RANK[same.command]) same.command = effect.command;
  same.destructive ||= effect.destructive;
  if (effect.through) same.through = [...new Set([...(same.through ?? []), ...effect.through])];
}

/** A relation written by INSERT/UPDATE/DELETE/MERGE/TRUNCATE or changed by DDL. */
export function relationEffect(
  a: StatementAnalyzer,
  key: string,
  command: WriteCommand,
  destructive: boolean,
  reach: { inherited?: boolean; rel?: RelationAccess; also?: string[] } = {},
): void {
  const catalog = a.view.catalog;
  // Defaults, CHECKs and triggers run code on the statement's behalf (schema changes fire none of it).
  if (command !== "ddl") hookEffects(a, key);
  const effect: PendingEffect = { table: key, command, destructive };
  const ancestors = ancestorsOf(catalog, key);
  if (ancestors?.length) effect.ancestors = ancestors;
  const reads = reach.rel?.relation.reads;
  const inherits = reach.inherited && (catalog.relations[key]?.children.length ?? 0) > 0;
  if (!reach.also?.length && !reads?.length && !inherits) return addEffect(a, effect);
  const through = new Set<string>(reach.also ?? []);
  // INSERT into a plain parent stays in the parent; into a partitioned one it lands in a partition.
  if (reach.inherited && (command !== "insert" || catalog.relations[key]?.kind === "partitioned_table"))
    for (const d of descendantsOf(catalog, key)) through.add(d);
  for (const dep of reach.rel?.relation.reads ?? []) through.add(dep.relation);
  through.delete(key);
  if (command !== "ddl") for (const k of through) hookEffects(a, k);
  if (through.size) effect.through = [...through];
  addEffect(a, effect);
}

/** `code`: the user function or procedure that runs, if one is named ("schema.name"). */
function hookEffects(a: StatementAnalyzer, key: string): void {
  for (const fn of a.view.catalog.relations[key]?.runs ?? []) if (!provenReadOnly(a.view.catalog, fn)) opaqueEffect(a, fn);
}

export function opaqueEffect(a: StatementAnalyzer, code?: string): void {
  const existing = a.writes.find((e) => e.opaque);
  if (!existing) {
    a.writes.push({ table: null, command: "ddl", destructive: true, opaque: true, ...(code ? { code: [code] } : {}) });
    return;
  }
  if (code && !existing.code?.includes(code)) existing.code = [...(existing.code ?? []), code];
}

export function ddlEffect(a: StatementAnalyzer, key: string | null, also?: string[]): void {
  if (key === null) {
    if (!a.writes.some((e) => e.table === null && !e.opaque)) a.writes.push({ table: null, command: "ddl", destructive: true });
    return;
  }
  relationEffect(a, key, "ddl", true, { also });
}

/** INSERT/UPDATE/DELETE/MERGE on `target` (a view's base tables and, without ONLY, children too). */
export function dmlEffect(a: StatementAnalyzer, kind: string, node: PgNode, target: RelationAccess): void {
  const rv = node.relation as PgNode;
  let command: WriteCommand;
  let destructive: boolean;
  switch (kind) {
    case "InsertStmt":
      command = "insert";
      // ON CONFLICT DO UPDATE changes existing rows, as many as the VALUES or SELECT collide with.
      destructive = (node.onConflictClause as PgNode | undefined)?.action === "ONCONFLICT_UPDATE";
      break;
    case "UpdateStmt":
      command = "update";
      destructive = !whereNarrowsTarget(a, node.whereClause, rv, target);
      break;
    case "DeleteStmt":
      command = "delete";
      destructive = true;
      break;
    default:
      command = "merge";
      // Any action on existing rows: the join condition decides how many match (`ON true`: all).
      destructive = list(node.mergeWhenClauses).some((w) => ["CMD_DELETE", "CMD_UPDATE"].includes(nodeType(w)?.[1]?.commandType as string));
  }
  // Rows the database changes for the statement: FK actions on the target's rows (views: their base tables').
  const catalog = a.view.catalog;
  const actions = fkActionMap(catalog);
  let also: string[] | undefined;
  if (actions.onDelete.size > 0 || actions.onUpdate.size > 0) {
    also = [];
    for (const base of [target.key, ...(target.relation.reads ?? []).map((d) => d.relation)]) {
      if (command === "delete" || command === "merge") also.push(...actionTables(catalog, base, "onDelete"));
      if (command === "update" || command === "merge" || (command === "insert" && node.onConflictClause)) also.push(...actionTables(catalog, base, "onUpdate"));
    }
  }
  // The JSON tree omits false booleans: `inh` is present only without ONLY.
  relationEffect(a, target.key, command, destructive, { inherited: rv.inh === true, rel: target, also });
}

/** TRUNCATE: each table, its descendants unless ONLY, and with CASCADE the tables referencing them. */
export function truncateEffects(a: StatementAnalyzer, node: PgNode, resolve: (rv: PgNode) => RelationAccess | undefined): void {
  const targets: { key: string; inherited: boolean }[] = [];
  for (const r of list(node.relations)) {
    const rv = nodeType(r)?.[1];
    const rel = rv ? resolve(rv) : undefined;
    if (rel) targets.push({ key: rel.key, inherited: rv!.inh === true });
  }
  const cascade = node.behavior === "DROP_CASCADE" ? referencingTables(a.view.catalog, targets.map((t) => t.key)) : [];
  for (const t of targets) relationEffect(a, t.key, "truncate", true, { inherited: t.inherited, also: cascade });
  if (targets.length === 0) ddlEffect(a, null);
}
