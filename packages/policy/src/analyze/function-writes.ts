import type { Catalog, CatalogFunction } from "../catalog/types.js";
import { ALLOWED_NON_IMMUTABLE, SEQUENCE_WRITERS, isDeniedFunction } from "../rules/functions.js";

/**
 * Whether the catalog proves that calling user function `key` ("schema.name") changes nothing.
 * Declared volatility proves nothing: a STABLE PL/pgSQL function may call a VOLATILE writer, and
 * PostgreSQL lets it. Proven are only:
 *  - SQL-language functions whose body the loader parsed and found to be plain SELECTs
 *    (`readOnly`), with every call it makes known (`calls`) and itself proven, transitively — a
 *    cycle proves nothing — and every view it reads calling only proven functions;
 *  - functions of an extension written in C or internal (only a superuser can create those, so the
 *    code is the server's, not the database users'), IMMUTABLE or on the vetted list of read-only names.
 * Everything else — PL/pgSQL, other languages, bodies the loader could not read — may write.
 * Unqualified calls in bodies are matched against every user function of that name, whichever
 * search path the body runs under.
 */
export function provenReadOnly(catalog: Catalog, key: string): boolean {
  let memo = proofs.get(catalog);
  if (!memo) proofs.set(catalog, (memo = new Map()));
  return prove(catalog, key, memo);
}

const proofs = new WeakMap<Catalog, Map<string, boolean>>();
const byName = new WeakMap<Catalog, Map<string, string[]>>();

function prove(catalog: Catalog, key: string, memo: Map<string, boolean>): boolean {
  const known = memo.get(key);
  if (known !== undefined) return known;
  memo.set(key, false); // recursion guard: a cycle is not proof
  const fn = catalog.functions[key];
  const ok = !!fn && bodyProven(catalog, fn, memo);
  memo.set(key, ok);
  return ok;
}

function bodyProven(catalog: Catalog, fn: CatalogFunction, memo: Map<string, boolean>): boolean {
  if (fn.kind === "procedure") return false;
  if (fn.forType === true && fn.language === "internal") return true;
  if (fn.extension && (fn.language === "c" || fn.language === "internal"))
    return fn.volatility === "immutable" || ALLOWED_NON_IMMUTABLE.has(fn.name);
  if (fn.language !== "sql" || fn.readOnly !== true || fn.calls === null) return false;
  for (const call of fn.calls) if (!callProven(catalog, call, memo)) return false;
  for (const read of fn.reads ?? []) if (!readProven(catalog, read, memo)) return false;
  return true;
}

function callProven(catalog: Catalog, call: string, memo: Map<string, boolean>): boolean {
  const parts = call.split(".");
  const name = parts[parts.length - 1] ?? "";
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
  if (schema !== undefined && schema !== "pg_catalog") return prove(catalog, `${schema}.${name}`, memo);
  const builtin = catalog.builtinFunctions[name];
  if (schema === "pg_catalog" || builtin !== undefined) {
    if (isDeniedFunction(name) || SEQUENCE_WRITERS.has(name)) return false;
    if (builtin !== "immutable" && !ALLOWED_NON_IMMUTABLE.has(name)) return false;
    if (schema === "pg_catalog") return true;
  }
  // Unqualified: whichever user function of that name the body's search path finds must be proven.
  const candidates = namesOf(catalog).get(name) ?? [];
  if (builtin === undefined && candidates.length === 0) return false;
  return candidates.every((k) => prove(catalog, k, memo));
}

/** A view read by a body runs the functions its definition calls. */
function readProven(catalog: Catalog, read: string, memo: Map<string, boolean>): boolean {
  const dot = read.indexOf(".");
  const keys = dot >= 0 ? [read] : catalog.schemas.map((s) => `${s}.${read}`);
  for (const k of keys) {
    const rel = catalog.relations[k];
    if (!rel) continue;
    if ((rel.deniedCalls?.length ?? 0) > 0) return false;
    for (const fn of rel.calls ?? []) if (!prove(catalog, fn, memo)) return false;
  }
  return true;
}

function namesOf(catalog: Catalog): Map<string, string[]> {
  let map = byName.get(catalog);
  if (map) return map;
  map = new Map();
  for (const [key, fn] of Object.entries(catalog.functions)) map.set(fn.name, [...(map.get(fn.name) ?? []), key]);
  byName.set(catalog, map);
  return map;
}
