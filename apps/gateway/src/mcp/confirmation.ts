import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import type { SecretKeyring } from "@portcullis/db/secrets";
import { z } from "zod";
import type { CallOutcome } from "../calls/call-outcome.js";
import { OPAQUE_COMMAND } from "../calls/pending-write.js";

/**
 * `approval: "confirm"`: the caller confirms a write in their own client. The pieces both eras share:
 * recognising the pending outcome, the question put to the developer, reading their answer, and the
 * signed `requestState` that carries a 2026-07-28 confirmation from one tools/call to its retry.
 */

/** How long a client may take to answer (and a 2025 call may wait): the request's own expiry, at most this. */
export const CONFIRM_WINDOW_MS = 10 * 60_000;

const pendingConfirmSchema = z.object({
  status: z.literal("pending_approval"),
  requestId: z.string().min(1).max(200),
  kind: z.literal("confirm"),
  expiresAt: z.string(),
  message: z.string(),
  preview: z
    .object({
      command: z.string(),
      affected: z.number().nullable(),
      table: z.string().nullable(),
    })
    .passthrough(),
});
export type PendingConfirm = z.infer<typeof pendingConfirmSchema>;

/**
 * The pending outcome of a write the caller must confirm (execute_sql or a saved tool, approval "confirm"), or null for
 * anything else — including a lead's approval, which the caller cannot give.
 */
export function pendingConfirmation(outcome: CallOutcome): PendingConfirm | null {
  const o = outcome as { kind: string; data?: unknown };
  if (o.kind !== "pending") return null;
  const parsed = pendingConfirmSchema.safeParse(o.data);
  return parsed.success ? parsed.data : null;
}

/**
 * Whether declared client capabilities include form elicitation: `elicitation.form`, or a bare
 * `elicitation: {}` (the 2025 meaning of a declaration without modes; the SDK reads it the same way).
 */
export function declaresFormElicitation(capabilities: unknown): boolean {
  if (typeof capabilities !== "object" || capabilities === null) return false;
  const elicitation = (capabilities as { elicitation?: unknown }).elicitation;
  if (typeof elicitation !== "object" || elicitation === null || Array.isArray(elicitation)) return false;
  const modes = elicitation as Record<string, unknown>;
  return modes.form !== undefined || (modes.url === undefined && modes.form === undefined);
}

const VERBS: Record<string, [string, string]> = {
  delete: ["Delete", "from"],
  update: ["Update", "in"],
  insert: ["Insert", "into"],
  merge: ["Merge", "into"],
  truncate: ["Truncate", ""],
};

/** "Delete 340 rows from public.invoice?" with the statement, so the person sees what they confirm. */
export function confirmationQuestion(pending: PendingConfirm, sql: string): string {
  const { command, affected, table } = pending.preview;
  const shown = sql.length > 400 ? `${sql.slice(0, 400)}…` : sql;
  const until = `\nNothing runs unless you confirm (request ${pending.requestId}, until ${pending.expiresAt}).`;
  // Code whose writes cannot be listed (a function call, DO, CALL): no verb or row count to promise.
  if (command === OPAQUE_COMMAND) return `Run code whose writes cannot be listed in advance? The AI client asks to run: ${shown}${until}`;
  const [verb, preposition] = VERBS[command.toLowerCase()] ?? [command.toUpperCase(), "on"];
  const rows = affected === null ? "an unknown number of rows" : `${affected} row${affected === 1 ? "" : "s"}`;
  const target = table ?? "the database";
  const head = verb === "Truncate" ? `Truncate ${target} (${rows})?` : `${verb} ${rows} ${preposition} ${target}?`;
  return `${head} The AI client asks to run: ${shown}${until}`;
}

/** The embedded request (2026-07-28) and the params of the 2025 server→client request: one boolean. */
export function elicitationParams(pending: PendingConfirm, sql: string) {
  return {
    message: confirmationQuestion(pending, sql),
    requestedSchema: {
      type: "object" as const,
      properties: { confirm: { type: "boolean" as const, title: "Run this statement", description: "Yes runs it once; no discards the request" } },
      required: ["confirm"],
    },
  };
}

const elicitResultSchema = z.object({
  action: z.enum(["accept", "decline", "cancel"]),
  content: z.record(z.string(), z.unknown()).optional(),
});

/** accept with `confirm: true` is the only yes; anything else (decline, cancel, false, malformed) is no. */
export function answerOf(response: unknown): "confirm" | "decline" {
  const parsed = elicitResultSchema.safeParse(response);
  return parsed.success && parsed.data.action === "accept" && parsed.data.content?.confirm === true ? "confirm" : "decline";
}

/** sha256 of `[sql, params]` — the same text and values, or it is another statement (a saved tool's: its text and bound values). */
export function statementHashOf(args: unknown): string {
  const a = (args ?? {}) as { sql?: unknown; params?: unknown };
  return createHash("sha256")
    .update(JSON.stringify([typeof a.sql === "string" ? a.sql : null, a.params ?? []]))
    .digest("hex");
}

/** What a requestState names and whom it belongs to. */
export interface StateBinding {
  requestId: string;
  teamId: string;
  linkId: string;
  /** Principal.subject: the API key or OAuth grant that made the call. */
  subject: string;
  statementHash: string;
  /** The tool the statement was called through (issue 17: a saved tool's writes confirm too); absent: execute_sql. */
  tool?: string;
}

/**
 * What the state carries: the request, a digest of who may use it (team, link, key or grant — the
 * client can read the state, and needs no ids it does not already know), the statement's hash, a nonce
 * for single use and the expiry (ms since the epoch).
 */
export interface StateClaims {
  requestId: string;
  who: string;
  statementHash: string;
  nonce: string;
  exp: number;
  /** Absent in states minted before saved tools could ask: those were execute_sql's. */
  tool?: string;
}

/** The digest of the caller a state is bound to. */
export function callerDigest(binding: Pick<StateBinding, "teamId" | "linkId" | "subject">): string {
  return createHash("sha256").update(JSON.stringify(["portcullis-confirm-caller", binding.teamId, binding.linkId, binding.subject])).digest("hex");
}

const claimsSchema = z.object({
  requestId: z.string().min(1).max(200),
  who: z.string().regex(/^[0-9a-f]{64}$/),
  statementHash: z.string().regex(/^[0-9a-f]{64}$/),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  exp: z.number().int().positive(),
  tool: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/).optional(),
});

export type StateCheck = { ok: true; claims: StateClaims } | { ok: false; reason: "malformed" | "forged" | "expired" };

const STATE_PREFIX = "pcs1";
const MAX_STATE_LENGTH = 4096;

/**
 * HMAC-SHA256 over the claims with a key derived (HKDF) from the primary PORTCULLIS_SECRET_KEYS key, so
 * no new secret is needed and every instance of a deployment verifies what another minted. The client
 * holds the state between two calls and may change it; the signature makes any change a forgery.
 * Minted under another primary key (after a rotation) it no longer verifies: the window is minutes.
 */
export class RequestStateCodec {
  private readonly keyId: string;
  private readonly key: Buffer;

  constructor(keyring: SecretKeyring) {
    this.keyId = keyring.primary.id;
    this.key = Buffer.from(hkdfSync("sha256", keyring.primary.key, Buffer.alloc(0), "portcullis mcp requestState v1", 32));
  }

  mint(binding: StateBinding, expiresAtMs: number): { token: string; claims: StateClaims } {
    const claims: StateClaims = {
      requestId: binding.requestId,
      who: callerDigest(binding),
      statementHash: binding.statementHash,
      nonce: randomBytes(16).toString("base64url"),
      exp: Math.floor(expiresAtMs),
      ...(binding.tool === undefined ? {} : { tool: binding.tool }),
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return { token: `${STATE_PREFIX}.${this.keyId}.${payload}.${this.sign(payload)}`, claims };
  }

  verify(token: unknown, now = Date.now()): StateCheck {
    if (typeof token !== "string" || token.length > MAX_STATE_LENGTH) return { ok: false, reason: "malformed" };
    const parts = token.split(".");
    if (parts.length !== 4 || parts[0] !== STATE_PREFIX) return { ok: false, reason: "malformed" };
    const [, keyId, payload, signature] = parts as [string, string, string, string];
    // Compared as text, not as decoded bytes: base64url's last character carries unused bits, so two
    // spellings decode alike — a state is valid in exactly the spelling that was minted.
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(signature);
    if (keyId !== this.keyId || given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "forged" };
    let claims: StateClaims;
    try {
      claims = claimsSchema.parse(JSON.parse(Buffer.from(payload, "base64url").toString("utf8")));
    } catch {
      return { ok: false, reason: "malformed" };
    }
    if (claims.exp <= now) return { ok: false, reason: "expired" };
    return { ok: true, claims };
  }

  private sign(payload: string): string {
    return createHmac("sha256", this.key).update(`${STATE_PREFIX}.${this.keyId}.${payload}`).digest("base64url");
  }
}

/** The first binding field a retry disagrees on, or null when it is the same call by the same caller. */
export function bindingMismatch(claims: Pick<StateClaims, "who" | "statementHash">, actual: Omit<StateBinding, "requestId">): string | null {
  if (claims.who !== callerDigest(actual)) return "it was issued to another key, client or link";
  if (claims.statementHash !== actual.statementHash) return "the retry's statement or parameters differ from the ones confirmed";
  return null;
}
