import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { AUDIT_EVENT_JOB, AUDIT_JOB_OPTIONS, QUEUES, enqueue, type AuditEventInput } from "@portcullis/jobs";
import { nowOf, type AuditSink, type OAuthContext } from "./context.js";


/**
 * Audit sink on the shared BullMQ queue, with the event id as job id (so a retried add is a no-op),
 * the same contract as the gateway's producer. OAuth events are rare (a handful per sign-in), so
 * each is added on its own rather than batched.
 */
export function createQueueAuditSink(connection: Redis, options: { prefix?: string } = {}): { sink: AuditSink; close(): Promise<void> } {
  const queue = new Queue(QUEUES.audit, {
    connection,
    ...(options.prefix ? { prefix: options.prefix } : {}),
    defaultJobOptions: AUDIT_JOB_OPTIONS,
  });
  queue.on("error", () => {});
  return {
    // Parsed by the event's schema before it is added; job id = event id (AUDIT_EVENT_JOB's rule).
    sink: async (event) => void (await enqueue(queue, AUDIT_EVENT_JOB, event)),
    close: () => queue.close(),
  };
}

export type OAuthAuditKind = "oauth_grant" | "oauth_refresh" | "oauth_revoke" | "oauth_refused";

export interface OAuthAuditInput {
  kind: OAuthAuditKind;
  teamId: string;
  linkId?: string | null;
  userId?: string | null;
  /** The OAuth client_id (metadata URL or registered id): what Activity shows as the client. */
  oauthClientId?: string | null;
  clientName?: string | null;
  /** Stable id of the rule that refused, e.g. `oauth.pkce_mismatch`. */
  ruleId?: string | null;
  reason?: string | null;
  sourceIp?: string | null;
}

/** Records one OAuth event. Delivery failures are reported and swallowed: the protocol answer wins. */
export async function recordOAuthEvent(ctx: OAuthContext, input: OAuthAuditInput): Promise<void> {
  if (!ctx.audit) return;
  const event: AuditEventInput = {
    id: randomUUID(),
    time: nowOf(ctx).toISOString(),
    teamId: input.teamId,
    kind: input.kind,
    linkId: input.linkId ?? null,
    userId: input.userId ?? null,
    oauthClientId: input.oauthClientId?.slice(0, 2048) ?? null,
    clientName: input.clientName?.slice(0, 200) ?? null,
    verdict: input.kind === "oauth_refused" ? "blocked" : "allowed",
    ruleId: input.ruleId ?? null,
    reason: input.reason?.slice(0, 4000) ?? null,
    sourceIp: input.sourceIp?.slice(0, 64) ?? null,
    tables: [],
    durationMs: 0,
  };
  try {
    await ctx.audit(event);
  } catch (error) {
    ctx.warn?.("could not queue an OAuth audit event", { err: (error as Error).message, kind: input.kind, teamId: input.teamId });
  }
}
