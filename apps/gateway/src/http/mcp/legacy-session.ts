import { randomBytes } from "node:crypto";

/**
 * Stateless session ids. The gateway keeps no session table: the id carries the client's name and
 * version from `initialize` (base64url JSON after a random part), so any instance can attribute later
 * calls in the audit log, with the protocol revision negotiated (2025-03-26 clients send no version
 * header on later requests). Nothing in it is trusted for security: clients report their names anyway.
 */
export function encodeSessionId(clientName: string | undefined, clientVersion: string | undefined, protocolVersion?: string, elicitation = false): string {
  const fields: unknown[] = [(clientName ?? "").slice(0, 100), (clientVersion ?? "").slice(0, 50), (protocolVersion ?? "").slice(0, 20)];
  // Whether initialize declared form elicitation: the gateway may then ask to confirm a write on a
  // call's stream. A client that lies about it only gets a question it cannot answer (the call then
  // returns the pending request after the wait), so a self-reported flag is enough.
  if (elicitation) fields.push(1);
  const info = Buffer.from(JSON.stringify(fields)).toString("base64url");
  return `${randomBytes(16).toString("base64url")}.${info}`;
}

export interface SessionInfo {
  clientName: string | null;
  clientVersion: string | null;
  protocolVersion: string | null;
  /** Present (true) when the client's initialize declared form elicitation. */
  elicitation?: true;
}

const NONE: SessionInfo = Object.freeze({ clientName: null, clientVersion: null, protocolVersion: null });
// A client sends the same id with every call: decoding it once per id (base64 + JSON.parse) instead of
// once per request. Bounded; dropped wholesale when full, since ids are cheap to decode again.
const decoded = new Map<string, SessionInfo>();
const MAX_DECODED = 2_000;

export function decodeSessionId(sessionId: string | undefined): SessionInfo {
  if (!sessionId || sessionId.length > 600) return NONE;
  let info = decoded.get(sessionId);
  if (!info) {
    info = Object.freeze(decodeUncached(sessionId));
    if (decoded.size >= MAX_DECODED) decoded.clear();
    decoded.set(sessionId, info);
  }
  return info;
}

function decodeUncached(sessionId: string): SessionInfo {
  const none = { clientName: null, clientVersion: null, protocolVersion: null };
  const dot = sessionId.indexOf(".");
  if (dot < 0) return none;
  try {
    const parsed = JSON.parse(Buffer.from(sessionId.slice(dot + 1), "base64url").toString("utf8")) as unknown;
    if (!Array.isArray(parsed)) return none;
    const [name, version, protocolVersion, elicitation] = parsed;
    return {
      clientName: typeof name === "string" && name ? name.slice(0, 100) : null,
      clientVersion: typeof version === "string" && version ? version.slice(0, 50) : null,
      protocolVersion: typeof protocolVersion === "string" && protocolVersion ? protocolVersion.slice(0, 20) : null,
      ...(elicitation === 1 ? { elicitation: true as const } : {}),
    };
  } catch {
    return none;
  }
}
