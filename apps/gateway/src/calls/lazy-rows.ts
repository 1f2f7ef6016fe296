import { ROWS_JSON } from "./outcome-schema.js";

/**
 * Result rows kept as the JSON text they were read as, parsed only if something reads them as values.
 * An answer leaves as text: the rows were serialized once while reading (the byte cap is exact on
 * that text), and parsing them back only to serialize them again cost ~4% of the gateway's CPU per
 * call on the agent mix (1,000-row results dominate). Whoever reads `rows` gets the parsed array, and
 * from then on the object serializes from that array (its raw text is forgotten), so an array changed
 * after reading can never be shadowed by the text it came from.
 */
export function defineLazyRows(target: Record<string, unknown>, json: string): void {
  Object.defineProperty(target, ROWS_JSON, { value: json, enumerable: false, configurable: true });
  Object.defineProperty(target, "rows", {
    enumerable: true,
    configurable: true,
    get(this: Record<string, unknown>) {
      const rows = JSON.parse(json) as unknown[][];
      settle(this, rows);
      return rows;
    },
    set(this: Record<string, unknown>, value: unknown) {
      settle(this, value);
    },
  });
}

function settle(target: Record<string | symbol, unknown>, rows: unknown): void {
  delete target[ROWS_JSON];
  Object.defineProperty(target, "rows", { value: rows, writable: true, enumerable: true, configurable: true });
}

/** The raw rows text of an object whose `rows` have not been read as values, else undefined. */
export function lazyRowsJson(target: object): string | undefined {
  return Object.prototype.hasOwnProperty.call(target, ROWS_JSON) ? (target as { [ROWS_JSON]: string })[ROWS_JSON] : undefined;
}

/**
 * A shallow copy of `source` with `extra` first; lazy rows stay lazy (a spread would read, and so parse, them).
 * Keys keep their order.
 */
export function copyWithLazyRows(extra: Record<string, unknown>, source: object): Record<string, unknown> {
  const json = lazyRowsJson(source);
  if (json === undefined) return { ...extra, ...source };
  const copy: Record<string, unknown> = { ...extra };
  for (const key of Object.keys(source)) {
    if (key === "rows") defineLazyRows(copy, json);
    else copy[key] = (source as Record<string, unknown>)[key];
  }
  return copy;
}

/**
 * JSON of `target` with the value of `key` given as ready JSON text `raw` (last key). The rest is
 * serialized by JSON.stringify, so only `raw` is trusted to be valid JSON.
 */
export function jsonWithRawKey(target: object, key: string, raw: string): string {
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(target)) if (k !== key) rest[k] = (target as Record<string, unknown>)[k];
  const head = JSON.stringify(rest);
  return head.length > 2 ? `${head.slice(0, -1)},${JSON.stringify(key)}:${raw}}` : `{${JSON.stringify(key)}:${raw}}`;
}
