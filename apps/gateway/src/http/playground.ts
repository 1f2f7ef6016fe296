import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { memberDetailsFresh } from "../auth/member-directory.js";
import { bearerToken } from "../auth/strategy.js";
import { memberMayUseLink } from "../access/member-may-use-link.js";
import { refusedRequestEvent } from "../calls/audit-event.js";
import { CallAuditUnavailableError, type CallOutcome } from "../calls/call-outcome.js";
import { renderPlayground } from "../calls/render-playground.js";
import { runCall } from "../calls/run-call.js";
import type { CallContext } from "../context.js";
import { sqlParams, sqlText } from "../mcp/tools/sql-input.js";
import { BodyTooLargeError, readBody } from "./body.js";
import type { HttpDeps } from "./deps.js";
import type { RequestMeta } from "./request-meta.js";
import { sendJson } from "./respond.js";

// `database` (issue 17): which of the link's databases; absent: the first. Checked by run-call like a
// tool call's (an unknown name is refused and audited there).
const bodySchema = z.object({ sql: sqlText, params: sqlParams, userId: z.string().uuid(), database: z.string().min(1).max(63).optional() });

export const PLAYGROUND_CLIENT_NAME = "portcullis-playground";

function tokenMatches(given: string | undefined, expected: string): boolean {
  // Hash both sides: timingSafeEqual needs equal lengths, and the length must not leak either.
  const a = createHash("sha256").update(given ?? "").digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

/**
 * POST /internal/links/{linkId}/playground — the dashboard's "what would the gateway do with this
 * SQL under this link", through runCall like an MCP execute_sql (policy, transaction, limits, audit);
 * only the rendering differs. Served only on the internal listener (GATEWAY_INTERNAL_PORT, loopback by default) and
 * authenticated by the shared GATEWAY_INTERNAL_TOKEN; absent token = no listener at all. The token
 * proves the caller is the dashboard, not that `userId` may use the link: the gateway checks that
 * itself, with the rule keys follow, and refuses disabled links.
 */
export async function handlePlayground(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, linkId: string, meta: RequestMeta): Promise<void> {
  if (!deps.internalToken) {
    sendJson(res, 404, { error: "not found" });
    return;
  }
  if (!tokenMatches(bearerToken(req.headers.authorization), deps.internalToken)) {
    req.resume();
    deps.services.metrics.refused.inc({ reason: "internal_unauthenticated" });
    sendJson(res, 401, { error: "unauthorized" });
    return;
  }
  let input: z.infer<typeof bodySchema>;
  try {
    const parsed = bodySchema.safeParse(JSON.parse(await readBody(req, deps.maxBodyBytes)));
    if (!parsed.success) {
      sendJson(res, 422, { error: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") });
      return;
    }
    input = parsed.data;
  } catch (error) {
    if (error instanceof BodyTooLargeError) sendJson(res, 413, { error: error.message });
    else sendJson(res, 400, { error: "body is not JSON" });
    return;
  }
  const link = await deps.links.get(linkId);
  if (!link) {
    sendJson(res, 404, { error: "link not found" });
    return;
  }
  const access = await memberMayUseLink(deps.metadata, link.id, input.userId);
  if (access !== "allowed") {
    const reason =
      access === "link_disabled"
        ? "the link is disabled"
        : access === "no_link"
          ? "the link no longer exists"
          : "this user may not use this link (not a member of its team, a viewer, or a member without access to it)";
    deps.services.metrics.refused.inc({ reason: `playground_${access}` });
    deps.services.audit.record(
      refusedRequestEvent(link, {
        // Not recorded as the actor: the user was not allowed here, the dashboard asked on their behalf.
        userId: null,
        clientName: PLAYGROUND_CLIENT_NAME,
        protocolVersion: "playground",
        ruleId: access === "link_disabled" ? "link_disabled" : "playground_forbidden",
        reason: `${reason} (user ${input.userId})`,
        sourceIp: meta.sourceIp,
        requestId: meta.requestId,
      }),
    );
    sendJson(res, access === "no_link" ? 404 : 403, { error: reason });
    return;
  }
  // The dashboard giving up (its request closed) cancels a long statement, as an MCP client's would.
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  const ctx: CallContext = {
    requestId: meta.requestId,
    principal: {
      kind: "internal",
      teamId: link.teamId,
      linkId: link.id,
      userId: input.userId,
      apiKeyId: null,
      oauthClientId: null,
      subject: `playground:${input.userId}`,
      grantedScopes: null,
      // Read fresh like the access check above: the Playground shows what this member would get now.
      ...(await memberDetailsFresh(deps.metadata, link.id, input.userId)),
    },
    // The member's time-boxed grants apply here as on their own keys: the Playground shows what they would get.
    link: await deps.links.forPrincipal(link, { userId: input.userId }),
    clientName: PLAYGROUND_CLIENT_NAME,
    clientVersion: null,
    protocolVersion: "playground",
    traceId: null,
    sourceIp: meta.sourceIp,
    signal: abort.signal,
  };
  // The same call path as an MCP execute_sql (policy, transaction, limits, metrics, one audit event).
  let outcome: CallOutcome;
  try {
    outcome = await runCall(deps.services, ctx, "execute_sql", { sql: input.sql, params: input.params, ...(input.database !== undefined ? { database: input.database } : {}) });
  } catch (error) {
    if (!(error instanceof CallAuditUnavailableError)) throw error;
    if (error.ranWrite) {
      sendJson(res, 500, { error: "The statement ran, but its audit event could not be recorded (the gateway's log has it). Do not run it again before checking its effect." });
    } else {
      res.setHeader("retry-after", "1");
      sendJson(res, 503, { error: "The audit journal cannot record calls right now; no data was changed (a read's answer is withheld). Try again in a moment." });
    }
    return;
  }
  const rendered = renderPlayground(outcome);
  sendJson(res, rendered.status, JSON.stringify(rendered.body));
}
