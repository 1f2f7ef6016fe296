import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import { requireRole, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { visibleLinks } from "../links/operations";

export const playgroundResponseSchema = z.object({
  verdict: z.object({
    allowed: z.boolean(),
    ruleId: z.string().nullish(),
    reason: z.string().nullish(),
    classes: z.array(z.string()).default([]),
    tables: z.array(z.string()).default([]),
    /** Issue 14: the statement that ran instead of the caller's (row filters, masks, virtual catalog). */
    rewrittenSql: z.string().max(200_000).nullish(),
    /** Names (never values) of the member attributes the rewritten statement bound. */
    attributeNames: z.array(z.string().max(63)).max(100).nullish(),
  }),
  result: z
    .object({ columns: z.array(z.string()), rows: z.array(z.array(z.unknown())).or(z.array(z.record(z.string(), z.unknown()))), rowCount: z.number(), truncated: z.boolean() })
    .nullish(),
  error: z.string().nullish(),
  /**
   * Issue 15: the write did not run, it waits for a decision (apps/gateway PendingWrite). Only what the
   * Playground says is kept: the preview's rows stay on the Approvals page, which withholds them once
   * the link's scope changes; this answer outlives no scope change but needs no rows either.
   */
  pending: z
    .object({
      status: z.literal("pending_approval"),
      requestId: z.uuid(),
      kind: z.enum(["approval", "confirm"]),
      preview: z.object({ command: z.string().max(200), affected: z.number().int().nonnegative().nullable(), table: z.string().max(300).nullable() }),
      expiresAt: z.iso.datetime({ offset: true }),
      message: z.string().max(5_000),
    })
    .nullish(),
});
export type PlaygroundResponse = z.infer<typeof playgroundResponseSchema>;

/**
 * Runs SQL through the real gateway path (same checker, same READ ONLY transaction, same audit) as
 * the signed-in member, via the gateway's internal endpoint. The dashboard never checks SQL itself:
 * a second implementation could disagree with the one that guards production.
 */
export const playgroundSqlSchema = z.string().trim().min(1, "type a SQL statement").max(100_000, "the statement is too long");

export async function runPlayground(ctx: TeamContext, input: { linkId: string; sql: string }) {
  requireRole(ctx, "member");
  const sql = input.sql;
  const link = await getPrisma().link.findFirst({ where: { id: input.linkId, ...visibleLinks(ctx) } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  // A disabled link serves nobody, the Playground included (the gateway refuses it too).
  if (link.status !== "active") throw new PortcullisError("forbidden", `the link "${link.name}" is disabled; enable it on its Settings tab to run queries`);
  const { GATEWAY_INTERNAL_TOKEN, gatewayInternalUrl } = env();
  if (!GATEWAY_INTERNAL_TOKEN) throw new PortcullisError("unavailable", "the Playground is off: set GATEWAY_INTERNAL_TOKEN for the dashboard and the gateway");
  let response: Response;
  try {
    response = await fetch(`${gatewayInternalUrl}/internal/links/${link.id}/playground`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_INTERNAL_TOKEN}` },
      body: JSON.stringify({ sql, userId: ctx.user.userId }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new PortcullisError("unavailable", `the gateway at ${gatewayInternalUrl} did not answer (${(error as Error).message}); is it running?`);
  }
  const body = await response.json().catch(() => null);
  const parsed = playgroundResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new PortcullisError("unavailable", `the gateway answered ${response.status} ${typeof body === "object" && body && "error" in body ? String((body as { error: unknown }).error) : "unexpectedly"}`);
  }
  return parsed.data;
}
