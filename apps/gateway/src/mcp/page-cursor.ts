import { createHash } from "node:crypto";
import { z } from "zod";

/**
 * Opaque page cursors for search_objects and resources/list. A cursor carries an offset and is bound to
 * what produced the page (query, filters, catalog version, scope): a cursor from another query, from a
 * catalog that has since changed, or edited by hand is refused instead of silently paging something else.
 *
 * The check is a keyless hash, not a MAC: every gateway instance behind a load balancer must accept the
 * others' cursors without sharing a secret, and forging one gains nothing — the only thing in it is an
 * offset into results the caller may page through anyway.
 */
const cursorSchema = z.object({ o: z.number().int().min(0).max(10_000_000), h: z.string().length(22) });

function digest(binding: string, offset: number): string {
  return createHash("sha256").update(`${binding}\u0000${offset}`).digest("base64url").slice(0, 22);
}

/** What a cursor is bound to: the parts joined unambiguously and hashed. */
export function cursorBinding(...parts: (string | number | undefined | readonly string[])[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
}

export function encodeCursor(binding: string, offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset, h: digest(binding, offset) })).toString("base64url");
}

/** The offset the cursor stands for, or null when it is malformed, tampered with or bound to something else. */
export function decodeCursor(cursor: string, binding: string): number | null {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success || result.data.h !== digest(binding, result.data.o)) return null;
  return result.data.o;
}
