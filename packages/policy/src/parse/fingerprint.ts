import type { RawStatement } from "./parse.js";

// Our own fingerprint over the tree we already have: libpg-query's fingerprintSync parses the text a
// second time (~45 µs on a 5-way join, measured), which alone would blow the check's latency budget.
// Same idea as pg_query's: node structure and names, no constants, no locations, no whitespace or
// comments, so `... where id = 1` and `... where id = 2` share a fingerprint.
const SKIPPED_KEYS = new Set(["location", "stmt_location", "stmt_len"]);
// Node and field names repeat endlessly: hash each one's small id instead of its characters.
const keyIds = new Map<string, number>();
function keyId(key: string): number {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = 0;
    for (let i = 0; i < key.length; i++) id = (Math.imul(id, 31) + key.charCodeAt(i)) | 0;
    if (keyIds.size < 10_000) keyIds.set(key, id);
  }
  return id;
}

export function fingerprintStatements(statements: RawStatement[]): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const mix = (text: string): void => {
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
  };
  const mixId = (id: number): void => {
    h1 = Math.imul(h1 ^ id, 2654435761);
    h2 = Math.imul(h2 ^ id, 1597334677);
  };
  const walk = (node: unknown, depth: number): void => {
    if (depth > 2000) return;
    if (Array.isArray(node)) {
      mix("[");
      for (const item of node) walk(item, depth + 1);
      mix("]");
      return;
    }
    if (node === null || typeof node !== "object") {
      if (typeof node === "string") mix(node);
      else mixId(typeof node === "number" ? node | 0 : node ? 1 : 2);
      return;
    }
    for (const key in node as Record<string, unknown>) {
      if (SKIPPED_KEYS.has(key)) continue;
      mixId(keyId(key));
      if (key === "A_Const" || key === "ParamRef") {
        mix("?");
        continue;
      }
      walk((node as Record<string, unknown>)[key], depth + 1);
    }
  };
  for (const s of statements) {
    walk(s.stmt, 0);
    mix(";");
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
}
