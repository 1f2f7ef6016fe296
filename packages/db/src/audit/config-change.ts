import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Prisma } from "../generated/prisma/client.js";
import { sanitizeText } from "./canonical.js";
import { type ChainKey, outboxMac } from "./chain-key.js";
import { loadAuditChainKey } from "./env.js";
import type { AuditEventInput } from "./ingest.js";

/** Must equal CONFIG_DETAIL_MAX of @portcullis/jobs (the worker refuses a longer detail). */
export const CONFIG_DETAIL_MAX = 64_000;

const uuid = z.string().uuid();

export const configChangeSchema = z.object({
  teamId: uuid,
  /** The member (or operator account) who made the change; null for the operator CLI without a user. */
  actorUserId: uuid.nullish(),
  /** Dotted verb, e.g. "link.scope.update", "api_key.revoke", "member.role.update". */
  action: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, "action must be dotted lower_snake words").max(100),
  target: z.object({
    type: z.string().min(1).max(50),
    id: z.string().min(1).max(200),
    name: z.string().max(200).nullish(),
  }),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  sourceIp: z.string().max(64).nullish(),
  /** Where the change was made, when not the dashboard (e.g. "cli" for the operator CLI). */
  via: z.enum(["dashboard", "cli", "api", "worker", "client"]).optional(),
  /** A decider's words on a write request or access grant (issue 15), kept beside before/after. */
  comment: z.string().max(2000).nullish(),
  /** Issue 15: the write request or access grant the change decided (audit_events columns of the same names). */
  writeRequestId: uuid.nullish(),
  accessGrantId: uuid.nullish(),
});

export type ConfigChange = z.input<typeof configChangeSchema>;

/** The one client this needs: the transaction client of the `$transaction` that makes the change. */
export type ConfigAuditTx = Pick<Prisma.TransactionClient, "auditOutbox">;

// Field names whose values are secrets (or verifiers of secrets) wherever they appear in before/after:
// a connection's password, a key's hash, a token… The audit trail is read by every lead of the team.
const SECRET_FIELD = /pass(word|wd|phrase)?$|secret|token|hash|cipher|sealed|credential|private|^key$|apikey$|^dsn$/i;
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi;
const REDACTED = "[redacted]";
const MAX_DEPTH = 12;

/** A deep copy of `value` fit for the audit trail: secrets redacted, JSON-safe, no NUL. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return sanitizeText(value.replace(URL_PASSWORD, `$1${REDACTED}@`));
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined || typeof v === "function") continue;
      out[sanitizeText(k)] = SECRET_FIELD.test(k) ? (v === null ? null : REDACTED) : redactSecrets(v, depth + 1);
    }
    return out;
  }
  return null;
}

/** The audit event a configuration change becomes (kind `config_change`, in the team's chain). */
export function configChangeEvent(change: ConfigChange, now = new Date()): AuditEventInput {
  const c = configChangeSchema.parse(change);
  const target = { type: c.target.type, id: c.target.id, name: c.target.name ?? null };
  const via = c.via ? { via: c.via } : {};
  const comment = c.comment != null ? { comment: sanitizeText(c.comment) } : {};
  let detail = JSON.stringify({ action: c.action, target, ...via, before: redactSecrets(c.before), after: redactSecrets(c.after), ...comment });
  // A huge document must not make the record unstorable: the change is still recorded, without the values.
  if (detail.length > CONFIG_DETAIL_MAX) detail = JSON.stringify({ action: c.action, target, ...via, truncated: true });
  const links = {
    ...(c.writeRequestId ? { writeRequestId: c.writeRequestId.toLowerCase() } : {}),
    ...(c.accessGrantId ? { accessGrantId: c.accessGrantId.toLowerCase() } : {}),
  };
  return {
    id: randomUUID(),
    time: now.toISOString(),
    teamId: c.teamId.toLowerCase(),
    kind: "config_change",
    userId: c.actorUserId ?? null,
    tool: c.action,
    tables: [],
    verdict: "allowed",
    reason: `${c.action} ${target.type} ${target.name ?? target.id}`.slice(0, 4000),
    sourceIp: c.sourceIp ?? null,
    detail,
    ...links,
  };
}

/**
 * Records a configuration change in the team's audit chain. Call it with the transaction client of
 * the `$transaction` that makes the change: the record is a row of `audit_outbox` committed (or rolled
 * back) with the change itself, so neither can exist without the other. The worker drains the outbox
 * into the chain (`drainConfigOutbox`), idempotent on the event id, so a crash between storing and
 * deleting an outbox row only replays it. Secrets in before/after are redacted by field name (and
 * passwords inside URLs), so callers may pass whole rows.
 *
 *   await prisma.$transaction(async (tx) => {
 *     const link = await tx.link.update({ where: { id }, data: { scope } });
 *     await recordConfigChange(tx, { teamId, actorUserId, action: "link.scope.update",
 *       target: { type: "link", id, name: link.name }, before: old.scope, after: scope });
 *   });
 */
export async function recordConfigChange(
  tx: ConfigAuditTx,
  change: ConfigChange,
  // The process's AUDIT_CHAIN_KEY: the record is authenticated with it (the worker refuses unauthenticated ones).
  key: ChainKey | undefined = loadAuditChainKey(),
): Promise<{ id: string }> {
  const event = configChangeEvent(change);
  const json = JSON.stringify(event);
  await tx.auditOutbox.create({
    data: { id: event.id, teamId: event.teamId, event: json, mac: key ? outboxMac(key, json) : null, createdAt: new Date(event.time) },
  });
  return { id: event.id };
}
