/**
 * OAuth scopes of a link token (MCP 2026-07-28 step-up authorization). The link's scope document is
 * the real permission; these are a second ceiling the member chooses per client, so a client can
 * start with reading and be challenged (HTTP 403 insufficient_scope) when it first needs more.
 *
 * The three are nested — admin needs write, write needs read (a statement that writes also reads) —
 * so every stored set is closed downwards and a check is a plain membership test. `mcp`, the only
 * scope before step-up existed, means all three: grants and clients from before keep what they had.
 */
export const OPERATION_SCOPES = ["mcp:read", "mcp:write", "mcp:admin"] as const;
export type OperationScope = (typeof OPERATION_SCOPES)[number];
export const LEGACY_SCOPE = "mcp";

/**
 * What a request that names no scope we know gets. Existing clients (mcp-remote, the 1.x SDK, Claude,
 * Cursor) either send `mcp` or nothing; they must keep working, and the link's scope document still
 * bounds them. Clients that follow 2026-07-28 take their first scope from the gateway's 401 challenge
 * (`scope="mcp:read"`) and step up from there.
 */
export const DEFAULT_SCOPES: readonly OperationScope[] = OPERATION_SCOPES;

const RANK: Record<OperationScope, number> = { "mcp:read": 0, "mcp:write": 1, "mcp:admin": 2 };

/** The known scopes of a space-separated scope string (or list), closed downwards; unknown ones ignored. */
export function normalizeScopes(input: string | readonly string[] | null | undefined): OperationScope[] {
  const words = typeof input === "string" ? input.split(/\s+/) : (input ?? []);
  let top = -1;
  for (const word of words) {
    if (word === LEGACY_SCOPE) top = 2;
    else if (word in RANK) top = Math.max(top, RANK[word as OperationScope]);
  }
  return OPERATION_SCOPES.slice(0, top + 1);
}

/** Scopes for a new authorization: the known ones asked for, or the default when none is known. */
export function requestedScopes(scope: string | null | undefined): OperationScope[] {
  const known = normalizeScopes(scope);
  return known.length ? known : [...DEFAULT_SCOPES];
}

/** Step-up accumulation: a re-authorization keeps what the client already had, plus what it asks. */
export function unionScopes(...sets: (readonly string[] | null | undefined)[]): OperationScope[] {
  return normalizeScopes(sets.flatMap((set) => [...(set ?? [])]));
}

export function intersectScopes(a: readonly string[], b: readonly string[]): OperationScope[] {
  const right = new Set(normalizeScopes(b));
  return normalizeScopes(a).filter((scope) => right.has(scope));
}

/** The scopes of `next` that `previous` did not have: what the consent page says is being added. */
export function addedScopes(previous: readonly string[], next: readonly string[]): OperationScope[] {
  const had = new Set(normalizeScopes(previous));
  return normalizeScopes(next).filter((scope) => !had.has(scope));
}

export function formatScopes(scopes: readonly string[]): string {
  return normalizeScopes(scopes).join(" ");
}

export const SCOPE_DESCRIPTIONS: Record<OperationScope, string> = {
  "mcp:read": "read data and browse the schema the link shows",
  "mcp:write": "change data (INSERT, UPDATE, DELETE) where the link allows it",
  "mcp:admin": "change the schema (DDL) where the link allows it",
};
