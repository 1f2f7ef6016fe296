import { seqCursorSchema } from "@portcullis/db/operations";
import { z } from "zod";

export const CURSOR_PAGE_DEFAULT = 1000;
export const CURSOR_PAGE_MAX = 5000;

/**
 * The pull API's query: `after` (a seq; 0 = from the start of the retained trail) and `limit`. Each
 * key at most once and nothing else: `after[]=1`, a repeated `after`, a sign, a fraction, a number past
 * the bigint range or an unknown key is a 400, never a guess.
 */
const querySchema = z.strictObject({
  after: seqCursorSchema.default("0"),
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,3}$/, `limit is a whole number from 1 to ${CURSOR_PAGE_MAX}`)
    .transform(Number)
    .refine((n) => n <= CURSOR_PAGE_MAX, `limit is at most ${CURSOR_PAGE_MAX}`)
    .default(CURSOR_PAGE_DEFAULT),
});

export type CursorQuery = z.output<typeof querySchema>;

export function parseCursorQuery(params: URLSearchParams): { ok: true; query: CursorQuery } | { ok: false; error: string } {
  const raw: Record<string, string> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (values.length !== 1) return { ok: false, error: `${key.slice(0, 40)} is given more than once` };
    raw[key] = values[0]!;
  }
  const parsed = querySchema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("; ").slice(0, 300) };
  return { ok: true, query: parsed.data };
}
