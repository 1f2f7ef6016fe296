import { z } from "zod";
import { activityFiltersSchema, parseFilters, type ActivityFilters } from "./filters";

const formatSchema = z.enum(["csv", "jsonl"]).default("csv");

export type ExportQuery = { ok: true; format: "csv" | "jsonl"; filters: ActivityFilters } | { ok: false; error: string };

/**
 * The export's query string: the Activity filters (same schema, same clamps) plus `format`. Anything
 * that is not one value per key, or a query longer than a browser's URL, is refused rather than guessed.
 */
export function parseExportQuery(params: URLSearchParams): ExportQuery {
  const keys = [...params.keys()];
  if (params.toString().length > 4096) return { ok: false, error: "query too long" };
  if (new Set(keys).size !== keys.length) return { ok: false, error: "each parameter may appear once" };
  const known = new Set([...Object.keys(activityFiltersSchema.shape), "format"]);
  const unknown = keys.filter((k) => !known.has(k));
  if (unknown.length) return { ok: false, error: `unknown parameter ${unknown[0]!.slice(0, 40)}` };
  const format = formatSchema.safeParse(params.get("format") ?? undefined);
  if (!format.success) return { ok: false, error: "format must be csv or jsonl" };
  const rest = Object.fromEntries([...params.entries()].filter(([k]) => k !== "format"));
  return { ok: true, format: format.data, filters: parseFilters(rest) };
}
