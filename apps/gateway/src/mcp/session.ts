import { randomBytes } from "node:crypto";

/**
 * Stateless session ids. The gateway keeps no session table: the id carries the client's name and
 * version from `initialize` (base64url JSON after a random part), so any instance can attribute later
 * calls in the audit log. Nothing in it is trusted for security: clients report their names anyway.
 */
export function encodeSessionId(clientName: string | undefined, clientVersion: string | undefined): string {
  const info = Buffer.from(JSON.stringify([(clientName ?? "").slice(0, 100), (clientVersion ?? "").slice(0, 50)])).toString("base64url");
  return `${randomBytes(16).toString("base64url")}.${info}`;
}

export function decodeSessionId(sessionId: string | undefined): { clientName: string | null; clientVersion: string | null } {
  const none = { clientName: null, clientVersion: null };
  if (!sessionId || sessionId.length > 600) return none;
  const dot = sessionId.indexOf(".");
  if (dot < 0) return none;
  try {
    const parsed = JSON.parse(Buffer.from(sessionId.slice(dot + 1), "base64url").toString("utf8")) as unknown;
    if (!Array.isArray(parsed)) return none;
    const [name, version] = parsed;
    return {
      clientName: typeof name === "string" && name ? name.slice(0, 100) : null,
      clientVersion: typeof version === "string" && version ? version.slice(0, 50) : null,
    };
  } catch {
    return none;
  }
}
