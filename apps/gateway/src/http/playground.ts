import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { memberDetailsFresh } from "../auth/member-directory.js";
import { bearerToken } from "../auth/strategy.js";
import { memberMayUseLink } from "../access/member-may-use-link.js";
import { refusedRequestEvent } from "../calls/audit-event.js";
import { CallAuditUnavailableError, UnknownToolError, type CallOutcome } from "../calls/call-outcome.js";
import { renderPlayground } from "../calls/render-playground.js";
import { runCall } from "../calls/run-call.js";
import type { CallContext } from "../context.js";
import { executeSqlTool } from "../mcp/tools/execute-sql.js";
import { TOOLS_BY_NAME, toolByName } from "../mcp/tools/index.js";
import { sqlParams, sqlText } from "../mcp/tools/sql-input.js";
import { BodyTooLargeError, readBody } from "./body.js";
import type { HttpDeps } from "./deps.js";
import type { RequestMeta } from "./request-meta.js";
import { sendJson } from "./respond.js";

// `database` (issue 17): which of the link's databases; absent: the first. Checked by run-call like a
// tool call's (an unknown name is refused and audited there).
const sqlBody = z.object({ sql: sqlText, params: sqlParams, userId: z.string().uuid(), database: z.string().min(1).max(63).optional() });
// A named tool with its arguments (issue 17: a saved tool's Try it), checked by that tool's own input
// schema in runCall. Strict: a body naming a tool cannot also smuggle `sql` past it.
const toolBody = z
  .object({
    tool: z.string().min(1).max(100),
    arguments: z.record(z.string().max(100), z.unknown()).refine((a) => Object.keys(a).length <= 100, "at most 100 arguments").default({}),
    userId: z.string().uuid(),
  })
  .strict();

type Body = { kind: "tool"; tool: string; arguments: Record<string, unknown>; userId: string } | { kind: "sql"; tool: "execute_sql"; arguments: Record<string, unknown>; userId: string };

/** The body as one call: `{ tool, arguments }`, or the Playground page's `{ sql, params, database }` as execute_sql's. */
function parseBody(raw: unknown): { ok: true; body: Body } | { ok: false; error: string } {
  const named = typeof raw === "object" && raw !== null && !Array.isArray(raw) && Object.hasOwn(raw, "tool");
  const parsed = named ? toolBody.safeParse(raw) : sqlBody.safeParse(raw);
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
  if ("tool" in parsed.data) return { ok: true, body: { kind: "tool", tool: parsed.data.tool, arguments: parsed.data.arguments, userId: parsed.data.userId } };
  const { sql, params, database, userId } = parsed.data;
  return { ok: true, body: { kind: "sql", tool: "execute_sql", arguments: { sql, params, ...(database !== undefined ? { database } : {}) }, userId } };
}

/** Why a link does not answer to `name` here, in words the dashboard shows. */
function notAnswered(link: { disabledTools?: readonly string[] }, name: string, known: string[]): string {
  if (TOOLS_BY_NAME.has(name) && link.disabledTools?.includes(name)) return `${name} is switched off on this link (its Tools tab); nothing was run`;
  return `this link has no tool named ${JSON.stringify(name.slice(0, 100))}; nothing was run. It answers to: ${known.join(", ")}`;
}

export const PLAYGROUND_CLIENT_NAME = "portcullis-playground";

function tokenMatches(given: string | undefined, expected: string): boolean {
  // Hash both sides: timingSafeEqual needs equal lengths, and the length must not leak either.
  const a = createHash("sha256").update(given ?? "").digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

/**
 * POST /internal/links/{linkId}/playground — the dashboard's "what would the gateway do with this
 * call under this link": `{ tool, arguments }` (a saved tool's Try it) or the Playground page's
 * `{ sql, params, database }` (execute_sql), through runCall like an MCP call of that tool (its input
 * parse, policy, transaction, limits, audit under its name); only the rendering differs. Served only on the internal listener (GATEWAY_INTERNAL_PORT, loopback by default) and
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
  let input: Body;
  try {
    const parsed = parseBody(JSON.parse(await readBody(req, deps.maxBodyBytes)));
    if (!parsed.ok) {
      sendJson(res, 422, { error: parsed.error });
      return;
    }
    input = parsed.body;
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
  // Only tools whose answer is rows (execute_sql, the link's saved tools) have a Playground rendering;
  // the other built-ins answer MCP clients. A name the link does not answer to goes on to runCall,
  // which audits it and refuses it.
  const answering = toolByName(ctx.link, input.tool);
  if (answering && answering.output !== executeSqlTool.output) {
    sendJson(res, 422, { error: `the Playground runs execute_sql or one of this link's saved tools, not ${input.tool}; nothing was run` });
    return;
  }
  // The same call path as an MCP call of that tool: its own input parse, its database, the policy,
  // approvals, transaction, limits, metrics and one audit event under its name.
  let outcome: CallOutcome;
  try {
    outcome = await runCall(deps.services, ctx, input.tool, input.arguments);
  } catch (error) {
    if (error instanceof UnknownToolError) {
      sendJson(res, 404, { error: notAnswered(ctx.link, input.tool, error.known) });
      return;
    }
    if (!(error instanceof CallAuditUnavailableError)) throw error;
    if (error.ranWrite) {
      sendJson(res, 500, { error: "The statement ran, but its audit event could not be recorded (the gateway's log has it). Do not run it again before checking its effect." });
    } else {
      res.setHeader("retry-after", "1");
      sendJson(res, 503, { error: "The audit journal cannot record calls right now; no data was changed (a read's answer is withheld). Try again in a moment." });
    }
    return;
  }
  // Arguments the tool's schema refused ran nothing: the caller's mistake, in the tool's own words.
  if (outcome.kind === "failed" && outcome.failure.code === "invalid_arguments") {
    sendJson(res, 422, { error: outcome.failure.message });
    return;
  }
  const rendered = renderPlayground(plainFailure(outcome));
  sendJson(res, rendered.status, JSON.stringify(rendered.body));
}

const UNTRUSTED_BOUNDARY = /^Below is the [^\n]*\n<(untrusted-data-[0-9a-f-]{36})>\n([\s\S]*)\n<\/\1>\n[^\n]*$/;

/**
 * A saved tool marks PostgreSQL's error as untrusted for the model reading it (render-mcp's boundary);
 * the dashboard shows it as text to a person, as it shows execute_sql's, so without the boundary.
 */
function plainFailure(outcome: CallOutcome): CallOutcome {
  if (outcome.kind !== "failed") return outcome;
  const inner = UNTRUSTED_BOUNDARY.exec(outcome.failure.message)?.[2];
  return inner === undefined ? outcome : { ...outcome, failure: { ...outcome.failure, message: inner } };
}
