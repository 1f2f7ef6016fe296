import { Refusal, StatementAnalyzer, type StatementClass } from "../analyze/analyzer.js";
import { NO_WRITES, type WriteEffect } from "../analyze/effects.js";
import type { Catalog } from "../catalog/types.js";
import { fingerprintStatements } from "../parse/fingerprint.js";
import { parseSql, policyReady } from "../parse/parse.js";
import type { RuleId } from "../rules/rules.js";
import { accessView } from "../scope/access.js";
import { summarizeScope } from "../scope/describe.js";
import type { Scope } from "../scope/schema.js";
import { rewriteStatements, StatementRefusal, type PlannedStatement } from "../rewrite/apply.js";
import type { StatementRewrite } from "../rewrite/types.js";

export interface Verdict {
  allowed: boolean;
  statementCount: number;
  classes: StatementClass[];
  /** Every statement is a read: the gateway runs it in a READ ONLY transaction. */
  readOnly: boolean;
  /** "schema.table" referenced, visible ones only. */
  tables: string[];
  /** Normalised statement fingerprint (constants, whitespace and comments ignored). */
  fingerprint: string;
  /**
   * What the statements write, one effect per written table per statement (issue 15's approvals:
   * scope/approval.ts decides from these); [] for reads. On a refusal: the effects found before it.
   */
  writes: WriteEffect[];
  ruleId?: RuleId;
  /** For the AI agent: statement number, object, needed permission, what the link allows, rule id. */
  reason?: string;
  /** 1-based index of the refused statement. */
  statementIndex?: number;
  /** Refusals: the object the rule is about, as the statement named it, when there is one. */
  object?: string;
  /** Refusals: the access level the statement would need on this link, when a higher level would allow it. */
  needs?: "read" | "write" | "admin";
  /** Parse errors: 0-based character offset PostgreSQL's parser reported. */
  position?: number;
  /**
   * Allowed statements on tables with row filters or masks, or catalog reads on links that hide
   * something: the statement to run instead of the caller's text (same meaning plus our predicates,
   * masks and catalog filters) and the parameters to bind after the caller's.
   */
  rewrite?: StatementRewrite;
}

export interface PolicyChecker {
  check(sql: string, scope: Scope, catalog: Catalog): Verdict;
  /** Verdict cache statistics (for metrics). */
  readonly cacheStats: { hits: number; misses: number; size: number };
}

export interface PolicyCheckerOptions {
  /** Most verdicts remembered (LRU). Default 5000; 0 disables the cache. */
  cacheSize?: number;
  /** Longest SQL text analysed, in characters. Default 100 000. */
  maxSqlLength?: number;
  /** Most statements in one call. Default 50. */
  maxStatements?: number;
}

/** String.prototype.isWellFormed (Node 20+; the compile target's lib predates it). */
type WellFormedCheck = string & { isWellFormed(): boolean };

const PARSER_EXHAUSTION = /memory exhausted|stack depth|call stack|too complex|out of memory/i;

export function createPolicyChecker(options: PolicyCheckerOptions = {}): PolicyChecker {
  // Start loading the parser now; by the time a catalog is loaded (which awaits it) it is ready.
  void policyReady();
  const cacheSize = options.cacheSize ?? 5000;
  const maxSqlLength = options.maxSqlLength ?? 100_000;
  const maxStatements = options.maxStatements ?? 50;
  const cache = new Map<string, Verdict>();
  const stats = { hits: 0, misses: 0, size: 0 };
  // Scope objects are usually long-lived (one per link); key them by content once.
  const scopeKeys = new WeakMap<Scope, string>();
  const scopeKey = (scope: Scope): string => {
    let key = scopeKeys.get(scope);
    if (key === undefined) scopeKeys.set(scope, (key = JSON.stringify(scope)));
    return key;
  };

  const check = (sql: string, scope: Scope, catalog: Catalog): Verdict => {
    if (cacheSize > 0) {
      const key = `${catalog.version}\u0000${scopeKey(scope)}\u0000${sql}`;
      const hit = cache.get(key);
      if (hit) {
        stats.hits++;
        cache.delete(key);
        cache.set(key, hit);
        return hit;
      }
      stats.misses++;
      const verdict = Object.freeze(decide(sql, scope, catalog, maxSqlLength, maxStatements)) as Verdict;
      cache.set(key, verdict);
      if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
      stats.size = cache.size;
      return verdict;
    }
    return decide(sql, scope, catalog, maxSqlLength, maxStatements);
  };
  return { check, cacheStats: stats };
}

function refused(
  scope: Scope,
  base: Omit<Verdict, "allowed">,
  ruleId: RuleId,
  message: string,
  statementIndex: number | undefined,
  need?: string,
  object?: string,
): Verdict {
  const where = statementIndex !== undefined ? `Statement ${statementIndex}: ` : "";
  const needs = need ? ` It would need ${need}.` : "";
  const reason = `${where}${message}.${needs} This link allows: ${summarizeScope(scope)}. [rule ${ruleId}]`;
  const level = neededLevel(need);
  return {
    ...base,
    allowed: false,
    ruleId,
    reason,
    ...(statementIndex !== undefined ? { statementIndex } : {}),
    ...(object !== undefined ? { object } : {}),
    ...(level ? { needs: level } : {}),
  };
}

/** The access level named by a refusal's need ("write access on public.orders", "a link with full (admin) access"). */
function neededLevel(need: string | undefined): Verdict["needs"] {
  if (!need) return undefined;
  if (/\badmin\b/.test(need)) return "admin";
  if (/\bwrite access\b/.test(need)) return "write";
  if (/\bread access\b/.test(need)) return "read";
  return undefined;
}

function decide(sql: string, scope: Scope, catalog: Catalog, maxSqlLength: number, maxStatements: number): Verdict {
  const empty = { statementCount: 0, classes: [], readOnly: false, tables: [], fingerprint: "", writes: NO_WRITES };
  if (typeof sql !== "string" || sql.length > maxSqlLength)
    return refused(scope, empty, "statement_too_long", `the SQL text is ${typeof sql === "string" ? sql.length : 0} characters; at most ${maxSqlLength} are accepted`, undefined);
  // libpg-query and the wire protocol both read C strings: text after a NUL would be seen by neither
  // the checker nor (reliably) the server, and in the extended protocol it would shift the message.
  if (sql.includes("\0"))
    return refused(scope, empty, "control_character", `the SQL text contains a NUL character (at character ${sql.indexOf("\0") + 1}); remove it`, undefined);
  // A lone surrogate reaches the parser and the server as different bytes (the driver writes U+FFFD).
  if (!(sql as WellFormedCheck).isWellFormed())
    return refused(scope, empty, "invalid_text", "the SQL text is not well-formed Unicode (it holds a lone surrogate); send valid UTF-16/UTF-8 text", undefined);
  const parsed = parseSql(sql);
  if (!parsed.ok) {
    if (PARSER_EXHAUSTION.test(parsed.message))
      return refused(scope, empty, "statement_too_complex", "the statement is nested too deeply to analyse", undefined);
    const verdict = refused(scope, empty, "syntax_error", `${parsed.message}${parsed.position !== undefined ? ` (at character ${parsed.position + 1})` : ""}`, undefined);
    return parsed.position !== undefined ? { ...verdict, position: parsed.position } : verdict;
  }
  const statements = parsed.statements;
  if (statements.length === 0) return refused(scope, empty, "empty_statement", "there is no statement to run", undefined);
  const fingerprint = fingerprintStatements(statements);
  const base = { ...empty, statementCount: statements.length, fingerprint };
  if (statements.length > maxStatements)
    return refused(scope, base, "statement_too_complex", `${statements.length} statements in one call; at most ${maxStatements}`, undefined);
  const view = accessView(scope, catalog);
  const classes: StatementClass[] = [];
  const tables = new Set<string>();
  const planned: PlannedStatement[] = [];
  let writes: WriteEffect[] = NO_WRITES;
  const collect = (analyzer: StatementAnalyzer, index: number): void => {
    if (analyzer.writes.length === 0) return;
    if (writes === NO_WRITES) writes = [];
    for (const w of analyzer.writes) writes.push({ statementIndex: index, ...w });
  };
  for (const [i, s] of statements.entries()) {
    const analyzer = new StatementAnalyzer(view);
    try {
      classes.push(analyzer.analyzeRaw(s, sql));
    } catch (error) {
      collect(analyzer, i + 1);
      if (error instanceof Refusal) return refused(scope, { ...base, classes, writes }, error.ruleId, error.message, i + 1, error.need, error.object);
      if (error instanceof RangeError)
        return refused(scope, { ...base, classes, writes }, "statement_too_complex", "the statement is too deeply nested to analyse", i + 1);
      throw error;
    }
    collect(analyzer, i + 1);
    for (const t of analyzer.tables) tables.add(t);
    planned.push({ raw: s, plan: analyzer.plan });
  }
  // Row filters, masks and the virtual catalog: the checked trees are this call's own (parsed above),
  // so the rewrite changes them in place. Nothing to rewrite costs one loop over each plan's anchors.
  let rewrite: StatementRewrite | undefined;
  try {
    rewrite = rewriteStatements(planned, view, sql, catalog.serverVersion);
  } catch (error) {
    if (!(error instanceof StatementRefusal)) throw error;
    const r = error.refusal;
    return refused(scope, { ...base, classes, writes }, r.ruleId, r.message, error.index + 1, r.need, r.object);
  }
  return {
    allowed: true,
    statementCount: statements.length,
    classes,
    readOnly: classes.every((c) => c === "read"),
    tables: [...tables].sort(),
    fingerprint,
    // Cached verdicts are shared: their effects must not change under a caller.
    writes: writes === NO_WRITES ? writes : Object.freeze(writes.map((w) => Object.freeze(w))) as WriteEffect[],
    ...(rewrite ? { rewrite } : {}),
  };
}
