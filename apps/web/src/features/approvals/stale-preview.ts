import { activeAccessGrants } from "@portcullis/db/operations";
import { parseScope, scopeHash, withGrants } from "@portcullis/policy/scope";
import { getPrisma } from "../../lib/db";
import type { WritePreview } from "./preview-diff";

interface RequestBinding {
  linkId: string;
  userId: string | null;
  scopeHash: string | null;
  link: { scope: unknown };
}

/**
 * Whether a request's stored preview was taken under the scope its link has now (attack finding 7).
 * The gateway stores `scopeHash` of the member's effective scope: the link's own, or the link's with
 * their time-boxed grants. Both candidates are hashed here the same way (`scopeHash` of the parsed
 * scope); anything else — a narrowed scope, an ended grant, a scope that no longer parses, no hash —
 * reads as changed, so the rows are withheld rather than shown under rules the link no longer has.
 * One checker per page load: each link's scope is parsed and hashed once, each requester's grants read once.
 */
export function previewChecker(teamId: string): (row: RequestBinding) => Promise<boolean> {
  const linkHashes = new Map<string, { scope: ReturnType<typeof parseScope>; hash: string | null }>();
  const grantHashes = new Map<string, Promise<string | null>>();
  const parsedLink = (row: RequestBinding) => {
    let entry = linkHashes.get(row.linkId);
    if (!entry) {
      const scope = parseScope(row.link.scope);
      entry = { scope, hash: scope.ok ? scopeHash(scope.scope) : null };
      linkHashes.set(row.linkId, entry);
    }
    return entry;
  };
  const withGrantsHash = async (row: RequestBinding, userId: string): Promise<string | null> => {
    const parsed = parsedLink(row).scope;
    if (!parsed.ok) return null;
    const grants = await activeAccessGrants(getPrisma(), { teamId, linkId: row.linkId, userId });
    if (grants.length === 0) return null;
    try {
      // The gateway applies them in this order (the directory reads them with the same query).
      return scopeHash(withGrants(parsed.scope, grants.map((g) => ({ table: g.tableKey, access: g.access }))));
    } catch {
      return null;
    }
  };
  return async (row) => {
    if (!row.scopeHash) return false;
    const own = parsedLink(row).hash;
    if (own === null) return false;
    if (own === row.scopeHash) return true;
    if (!row.userId) return false;
    const key = `${row.linkId}:${row.userId}`;
    let hash = grantHashes.get(key);
    if (!hash) grantHashes.set(key, (hash = withGrantsHash(row, row.userId)));
    return (await hash) === row.scopeHash;
  };
}

/**
 * What of a stale preview may still be shown: the command, the table and the counts. Columns, key
 * columns, rows, the plan (it can name columns) and the notes (they describe rows no longer shown) go.
 */
export function withholdRows(preview: WritePreview): WritePreview {
  return { command: preview.command, affected: preview.affected, table: preview.table, columns: [], keyColumns: [], before: [], after: [], plan: null, notes: [], durationMs: preview.durationMs };
}

/**
 * A stored execution result as the page needs it: its counts. The page says how many rows were
 * affected and never lists them, so the rows (read under the scope of the time) never leave the server.
 */
export function resultCounts(result: unknown): { affected?: number; rowCount?: number } | null {
  if (!result || typeof result !== "object") return null;
  const r = result as { affected?: unknown; rowCount?: unknown };
  return {
    ...(typeof r.affected === "number" ? { affected: r.affected } : {}),
    ...(typeof r.rowCount === "number" ? { rowCount: r.rowCount } : {}),
  };
}
