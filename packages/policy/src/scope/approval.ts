import type { WriteEffect } from "../analyze/effects.js";
import { splitTableKey, type ApprovalMode, type Scope } from "./schema.js";

export type { WriteEffect, WriteCommand } from "../analyze/effects.js";

/** What must happen before an allowed statement runs (issue 15); null when it may simply run. */
export interface ApprovalRequirement {
  /** approval: a lead decides; confirm: the caller confirms. */
  kind: "approval" | "confirm";
  /** The rule that applied (with both, the stricter: writes over destructive). */
  mode: ApprovalMode;
  /** The tables whose rule applied (a link-level rule: the written tables, or [] for DDL on no table). */
  tables: string[];
  /** Words for a model to relay: which table, which rule, what it means. */
  reason: string;
}

/** The parts of a verdict approvalFor reads (a refused verdict runs nothing: no requirement). */
export interface ApprovalInput {
  allowed: boolean;
  writes?: readonly WriteEffect[];
}

// Table keys normalised ("invoice" → "public.invoice"), per scope object: scopes are long-lived.
const approvalsByScope = new WeakMap<Scope, Map<string, ApprovalMode>>();

function tableApprovals(scope: Scope): Map<string, ApprovalMode> {
  let map = approvalsByScope.get(scope);
  if (map) return map;
  map = new Map();
  for (const [key, rule] of Object.entries(scope.tables)) {
    if (!rule.approval) continue;
    const { schema, name } = splitTableKey(key);
    map.set(`${schema}.${name}`, rule.approval);
  }
  approvalsByScope.set(scope, map);
  return map;
}

interface Applied {
  mode: ApprovalMode;
  /** The table whose rule it is; null for the link's rule on DDL without a table. */
  table: string | null;
  link: boolean;
}

/**
 * The rules that apply to one effect. The table's own approval wins over the link's; a table without
 * one follows its partition/inheritance ancestors' (like access), and only when none of them has one
 * the link's. Relations the write also reaches (children without ONLY, a view's base tables) add their
 * own approval. Code whose writes cannot be listed meets every rule the scope has.
 */
function rulesFor(effect: WriteEffect, scope: Scope, own: Map<string, ApprovalMode>): Applied[] {
  const out: Applied[] = [];
  if (effect.opaque) {
    if (scope.approval) out.push({ mode: scope.approval, table: null, link: true });
    for (const [table, mode] of own) out.push({ mode, table, link: false });
    return out;
  }
  const table = effect.table;
  const mine = table !== null ? own.get(table) : undefined;
  if (mine) out.push({ mode: mine, table, link: false });
  else {
    for (const ancestor of effect.ancestors ?? []) {
      const mode = own.get(ancestor);
      if (mode) out.push({ mode, table: ancestor, link: false });
    }
    if (out.length === 0 && scope.approval) out.push({ mode: scope.approval, table, link: true });
  }
  for (const reached of effect.through ?? []) {
    const mode = own.get(reached);
    if (mode) out.push({ mode, table: reached, link: false });
  }
  return out;
}

const COMMAND_WORDS: Record<WriteEffect["command"], string> = {
  insert: "an INSERT",
  update: "an UPDATE",
  delete: "a DELETE",
  merge: "a MERGE",
  truncate: "a TRUNCATE",
  ddl: "a schema change",
};

function what(effect: WriteEffect, several: boolean): string {
  const which = several ? `statement ${effect.statementIndex}` : "the statement";
  if (effect.opaque) {
    if (!effect.code?.length)
      return `${which} runs code or changes the schema in a way whose writes cannot be listed (DO, CALL, new or changed code, DROP … CASCADE, a schema, type, index or function change)`;
    return `${which} runs code whose writes cannot be listed (${effect.code.slice(0, 3).join(", ")}${effect.code.length > 3 ? ", …" : ""}: a function call, or code created, changed or dropped)`;
  }
  const target = effect.table ? ` on ${effect.table}` : "";
  const noWhere = effect.command === "update" && effect.destructive ? " whose WHERE does not narrow by a column of the table" : "";
  const changes = effect.command === "merge" && effect.destructive ? " that updates or deletes existing rows" : "";
  const upsert = effect.command === "insert" && effect.destructive ? " that updates existing rows on conflict" : "";
  return `${which} is ${COMMAND_WORDS[effect.command]}${noWhere}${changes}${upsert}${target}`;
}

/** What `destructive` means, in the words the scope's descriptions and reasons use. */
export const DESTRUCTIVE_WORDS =
  "DELETE; UPDATE whose WHERE does not narrow by a column of the table (no WHERE, a constant or parameter condition, a subquery not correlated to it, UPDATE … FROM joined on the other table only); MERGE that updates or deletes; INSERT … ON CONFLICT DO UPDATE; TRUNCATE; schema changes; code whose writes cannot be listed";

function meaning(mode: ApprovalMode): string {
  switch (mode) {
    case "writes":
      return "requires a lead's approval for every write";
    case "destructive":
      return `requires a lead's approval for destructive writes — ${DESTRUCTIVE_WORDS}`;
    case "confirm":
      return "requires the caller's confirmation before any write runs";
  }
}

/**
 * Whether an allowed statement needs a decision first, from its write effects and the scope it was
 * checked under: `writes` → a lead approves every effect; `destructive` → destructive effects only;
 * `confirm` → the caller confirms every effect. Any approval beats confirmation.
 */
export function approvalFor(verdict: ApprovalInput, scope: Scope): ApprovalRequirement | null {
  if (!verdict.allowed || !verdict.writes || verdict.writes.length === 0) return null;
  const own = tableApprovals(scope);
  if (own.size === 0 && !scope.approval) return null;
  const approvals: { applied: Applied; effect: WriteEffect }[] = [];
  const confirms: { applied: Applied; effect: WriteEffect }[] = [];
  for (const effect of verdict.writes)
    for (const applied of rulesFor(effect, scope, own)) {
      if (applied.mode === "confirm") confirms.push({ applied, effect });
      else if (applied.mode === "writes" || effect.destructive) approvals.push({ applied, effect });
    }
  const chosen = approvals.length > 0 ? approvals : confirms;
  if (chosen.length === 0) return null;
  const kind = approvals.length > 0 ? "approval" : "confirm";
  const mode: ApprovalMode = kind === "confirm" ? "confirm" : approvals.some((x) => x.applied.mode === "writes") ? "writes" : "destructive";
  const tables = [...new Set(chosen.map((x) => x.applied.table).filter((t): t is string => t !== null))];
  return { kind, mode, tables, reason: reasonFor(chosen) };
}

/** One sentence per rule that applied: whose rule, what it means, and what the statement does. */
function reasonFor(chosen: { applied: Applied; effect: WriteEffect }[]): string {
  const several = new Set(chosen.map((x) => x.effect.statementIndex)).size > 1;
  const groups = new Map<string, { mode: ApprovalMode; link: boolean; tables: Set<string>; does: Set<string> }>();
  for (const { applied, effect } of chosen) {
    const key = `${applied.mode}\u0000${applied.link ? "" : applied.table}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { mode: applied.mode, link: applied.link, tables: new Set(), does: new Set() }));
    if (applied.link && applied.table) g.tables.add(applied.table);
    g.does.add(what(effect, several));
  }
  const sentences: string[] = [];
  for (const [key, g] of groups) {
    const subject = g.link ? "This link" : key.slice(key.indexOf("\u0000") + 1);
    sentences.push(`${subject} ${meaning(g.mode)} (approval: ${g.mode}): ${[...g.does].slice(0, 3).join("; ")}${g.does.size > 3 ? "; …" : ""}`);
  }
  return `${sentences.join(". ")}.`;
}
