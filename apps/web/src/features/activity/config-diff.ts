import { z } from "zod";

/** A configuration change's detail as recorded (recordConfigChange): parsed, never trusted blindly. */
const detailSchema = z.object({
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string(), name: z.string().nullish() }),
  via: z.string().optional(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  truncated: z.boolean().optional(),
});

export interface ConfigDiff {
  action: string;
  target: { type: string; id: string; name: string | null };
  via: string | null;
  truncated: boolean;
  /** One row per changed leaf (dotted path), unchanged leaves left out; values as short JSON. */
  rows: { path: string; before: string | null; after: string | null }[];
}

const MAX_ROWS = 200;
const MAX_VALUE = 300;

function show(value: unknown): string | null {
  if (value === undefined) return null;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text;
}

function leaves(value: unknown, path: string, out: Map<string, unknown>, depth = 0): void {
  if (value !== null && typeof value === "object" && !Array.isArray(value) && depth < 6 && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) leaves(v, path ? `${path}.${k}` : k, out, depth + 1);
  } else out.set(path || "(value)", value);
}

/** The readable before/after of a config_change event, or null when the detail is not one. */
export function configDiff(detail: string | null): ConfigDiff | null {
  if (!detail) return null;
  let json: unknown;
  try {
    json = JSON.parse(detail);
  } catch {
    return null;
  }
  const parsed = detailSchema.safeParse(json);
  if (!parsed.success) return null;
  const d = parsed.data;
  const before = new Map<string, unknown>();
  const after = new Map<string, unknown>();
  if (d.before !== undefined && d.before !== null) leaves(d.before, "", before);
  if (d.after !== undefined && d.after !== null) leaves(d.after, "", after);
  const rows: ConfigDiff["rows"] = [];
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    const b = show(before.get(path));
    const a = show(after.get(path));
    if (b !== a) rows.push({ path, before: b, after: a });
    if (rows.length >= MAX_ROWS) break;
  }
  return { action: d.action, target: { ...d.target, name: d.target.name ?? null }, via: d.via ?? null, truncated: !!d.truncated, rows };
}
