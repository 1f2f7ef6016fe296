import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { bearerToken } from "../auth/strategy.js";
import { memberMayUseLink } from "../access/member-may-use-link.js";
import { AuditUnavailableError } from "../audit/producer.js";
import { describeConnectionFailure, executeChecked, isConnectionFailure } from "../execution/execute-checked.js";
import { sqlParams, sqlText } from "../mcp/tools/sql-input.js";
import { BodyTooLargeError, readBody } from "./body.js";
import type { HttpDeps } from "./deps.js";
import type { RequestMeta } from "./mcp-endpoint.js";
import { sendJson } from "./respond.js";

const bodySchema = z.object({ sql: sqlText, params: sqlParams, userId: z.string().uuid() });

export const PLAYGROUND_CLIENT_NAME = "portcullis-playground";

function tokenMatches(given: string | undefined, expected: string): boolean {
  // Hash both sides: timingSafeEqual needs equal lengths, and the length must not leak either.
  const a = createHash("sha256").update(given ?? "").digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

/**
 * POST /internal/links/{linkId}/playground — the dashboard's "what would the gateway do with this
 * SQL under this link", through exactly the path execute_sql takes (policy, transaction, limits,
 * audit). Served only on the internal listener (GATEWAY_INTERNAL_PORT, loopback by default) and
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
    deps.services.audit.record({
      teamId: link.teamId,
      kind: "request_refused",
      linkId: link.id,
      apiKeyId: null,
      oauthClientId: null,
      // Not recorded as the actor: the user was not allowed here, the dashboard asked on their behalf.
      userId: null,
      clientName: PLAYGROUND_CLIENT_NAME,
      verdict: "blocked",
      ruleId: access === "link_disabled" ? "link_disabled" : "playground_forbidden",
      reason: `${reason} (user ${input.userId})`,
      sourceIp: meta.sourceIp,
      requestId: meta.requestId,
    });
    sendJson(res, access === "no_link" ? 404 : 403, { error: reason });
    return;
  }
  const started = performance.now();
  const { services } = deps;
  // As for MCP calls: nothing runs while the journal cannot record it (see callTool).
  if (services.audit.journalFailure()) {
    services.metrics.refused.inc({ reason: "audit_unavailable" });
    res.setHeader("retry-after", "1");
    sendJson(res, 503, { error: "The audit journal cannot record calls right now; nothing was run. Try again in a moment." });
    return;
  }
  let execution: Awaited<ReturnType<typeof executeChecked>>;
  try {
    execution = await executeChecked(services, link, { sql: input.sql, params: input.params });
  } catch (error) {
    if (isConnectionFailure(error)) {
      sendJson(res, 503, { error: describeConnectionFailure(error) });
      return;
    }
    services.logger.error({ err: error, requestId: meta.requestId }, "playground failed");
    sendJson(res, 500, { error: "internal error" });
    return;
  }
  const { verdict, outcome, refusal } = execution;
  const allowed = verdict.allowed && !refusal;
  const ruleId = refusal?.ruleId ?? verdict.ruleId;
  const reason = refusal?.reason ?? verdict.reason;
  const rows = outcome && !execution.error ? (JSON.parse(`[${outcome.rowsJson.join(",")}]`) as unknown[][]) : undefined;
  const auditVerdict = !allowed ? "blocked" : execution.error ? "error" : "allowed";
  const bodyOut = {
    verdict: { allowed, ...(ruleId ? { ruleId } : {}), ...(reason ? { reason } : {}), classes: verdict.classes, tables: verdict.tables },
    ...(allowed && outcome && !execution.error
      ? {
          result: {
            columns: outcome.columns.map((c) => c.name),
            rows: rows!,
            rowCount: outcome.columns.length ? outcome.rowCount : (outcome.commandRowCount ?? 0),
            truncated: outcome.truncated,
          },
        }
      : {}),
    ...(execution.error ? { error: execution.error } : {}),
  };
  const text = JSON.stringify(bodyOut);
  const durationMs = performance.now() - started;
  services.metrics.toolCalls.inc({ tool: "playground", verdict: auditVerdict });
  const recorded = services.audit.recordDurable({
    teamId: link.teamId,
    kind: "tool_call",
    linkId: link.id,
    apiKeyId: null,
    oauthClientId: null,
    userId: input.userId,
    clientName: PLAYGROUND_CLIENT_NAME,
    tool: "execute_sql",
    sql: input.sql,
    fingerprint: verdict.fingerprint || undefined,
    tables: verdict.tables.slice(0, 200),
    verdict: auditVerdict,
    ruleId,
    reason: reason?.slice(0, 4000),
    durationMs: Math.round(durationMs * 1000) / 1000,
    rows: bodyOut.result?.rowCount,
    bytes: Buffer.byteLength(text),
    error: execution.error?.slice(0, 4000),
    sourceIp: meta.sourceIp,
    requestId: meta.requestId,
  });
  try {
    await recorded;
  } catch (error) {
    if (!(error instanceof AuditUnavailableError)) throw error;
    services.metrics.refused.inc({ reason: "audit_unavailable" });
    if (allowed && !execution.error && !verdict.readOnly) {
      sendJson(res, 500, { error: "The statement ran, but its audit event could not be recorded (the gateway's log has it). Do not run it again before checking its effect." });
    } else {
      res.setHeader("retry-after", "1");
      sendJson(res, 503, { error: "The audit journal cannot record calls right now; the answer was withheld. Try again in a moment." });
    }
    return;
  }
  sendJson(res, 200, text);
}
