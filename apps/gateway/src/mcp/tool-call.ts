import type { JSONRPCMessage, JSONRPCRequest, RequestId } from "@modelcontextprotocol/server";
import type { CallOutcome } from "../calls/call-outcome.js";
import { renderMcp } from "../calls/render-mcp.js";
import { runCall } from "../calls/run-call.js";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";
import { applyAnswer, confirmedCall, inputRequiredFor, resumeConfirmation, type ConfirmedCall } from "./confirm-flow.js";
import type { ConfirmationBroker, WaitResult } from "./confirmation-broker.js";
import { declaresFormElicitation, elicitationParams, pendingConfirmation } from "./confirmation.js";
import { SERVER_INFO, protocolErrorOf } from "./handlers.js";
import { serializeAhead } from "./wire-json.js";

const SERVER_INFO_META = { "io.modelcontextprotocol/serverInfo": SERVER_INFO };

/**
 * How a call may ask its caller to confirm a write (approval "confirm"). 2026-07-28 needs only the
 * broker (the question travels in the result); a 2025 call also needs `elicit`, which the HTTP layer
 * gives only to a single request on a stream-capable reply whose session declared elicitation.
 */
export interface ConfirmOptions {
  broker?: ConfirmationBroker;
  /** 2025: sends `elicitation/create` on the call's SSE stream and waits for the client's answer. */
  elicit?: (params: ReturnType<typeof elicitationParams>, expiresAtMs: number, signal?: AbortSignal) => Promise<WaitResult>;
}

/**
 * `tools/call` — the one method on the hot path — answered without the SDK's dispatch; every other
 * method goes through the long-lived SDK instances. Measured on the bench (2 cores, 10-row read whose
 * text changes every call): the SDK's per-message work for a call (its zod guards on the request and on
 * the result, the modern codec's envelope pass, the serving loop, the dispatch transport's renumbering)
 * was ~60 µs of server CPU per call on 2026-07-28 and ~30 µs on 2025-11-25, which put the modern path
 * 1.5× over the pre-v2 legacy path (issue 13's bar: not more). What the SDK does here is small and
 * fixed by the spec, and is kept: params checked (-32602), the same ProtocolError mapping, and on
 * 2026-07-28 `resultType` and `_meta` serverInfo stamped on the result exactly as the SDK's
 * codec does (its envelope was validated by the SDK's classifier before this point). The conformance
 * suite and the v2/1.x clients in the test command hold the two paths to the same wire.
 * A confirmation costs a call nothing until its outcome is pending: one property read per call.
 */
export async function answerToolCall(services: Services, ctx: CallContext, message: JSONRPCRequest, modern: boolean, confirm: ConfirmOptions = {}): Promise<JSONRPCMessage> {
  const id = message.id as RequestId;
  const params = message.params as { name?: unknown; arguments?: unknown; requestState?: unknown; inputResponses?: unknown; _meta?: Record<string, unknown> } | undefined;
  const args = params?.arguments;
  if (typeof params?.name !== "string" || (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args)))) {
    return { jsonrpc: "2.0", id, error: { code: -32602, message: "Invalid params: tools/call needs params.name (a string) and, optionally, params.arguments (an object)" } };
  }
  const argv = (args ?? {}) as Record<string, unknown>;
  let result: Record<string, unknown>;
  let prepared: { outcome: CallOutcome; message: JSONRPCMessage } | undefined;
  try {
    if (modern && (params.requestState !== undefined || params.inputResponses !== undefined)) {
      result = renderMcp(params.name, await resumeConfirmation(services, confirm.broker, ctx, params.name, argv, params));
    } else {
      // The answer to a settled outcome is rendered and serialized while its audit write is in flight
      // (runCall still resolves only once the event is durable); a pending one may change below.
      const name = params.name;
      const early = (settled: CallOutcome) => {
        if (settled.kind === "pending") return;
        prepared = { outcome: settled, message: answer(id, renderMcp(name, settled), modern) };
        serializeAhead(prepared.message);
      };
      let outcome = await runCall(services, ctx, name, argv, early);
      if (prepared?.outcome === outcome) return prepared.message;
      const pending = (outcome as { kind: string }).kind === "pending" ? pendingConfirmation(outcome) : null;
      // The statement the pending request holds, named by this call's tool and arguments (execute_sql's
      // sql and params, or a saved tool's text and bound values); none: the request stays as it is.
      const call = pending ? confirmedCall(ctx.link, params.name, argv) : null;
      if (pending && call && modern && confirm.broker && declaresFormElicitation(params._meta?.["io.modelcontextprotocol/clientCapabilities"])) {
        return { jsonrpc: "2.0", id, result: { ...inputRequiredFor(confirm.broker, ctx, pending, call), _meta: SERVER_INFO_META } } as JSONRPCMessage;
      }
      if (pending && call && !modern && confirm.elicit) outcome = await askOnStream(services, ctx, confirm.elicit, pending, call, outcome);
      result = renderMcp(params.name, outcome);
    }
  } catch (error) {
    const protocolError = protocolErrorOf(error);
    if (!protocolError) throw error;
    return { jsonrpc: "2.0", id, error: protocolError };
  }
  return answer(id, result, modern);
}

/** 2026-07-28 results carry `resultType` and the serverInfo `_meta`, as the SDK's codec stamps them. */
function answer(id: RequestId, result: Record<string, unknown>, modern: boolean): JSONRPCMessage {
  if (modern) {
    result.resultType = "complete";
    result._meta = SERVER_INFO_META;
  }
  return { jsonrpc: "2.0", id, result } as JSONRPCMessage;
}

/**
 * 2025: the question goes to the client on this call's stream and the call waits for the answer. No
 * answer in time (or the client left): the request stays pending for the dashboard, and the call
 * answers with the pending result as a client without elicitation would get it.
 */
async function askOnStream(
  services: Services,
  ctx: CallContext,
  elicit: NonNullable<ConfirmOptions["elicit"]>,
  pending: NonNullable<ReturnType<typeof pendingConfirmation>>,
  call: ConfirmedCall,
  outcome: CallOutcome,
): Promise<CallOutcome> {
  const waited = await elicit(elicitationParams(pending, call.sql ?? ""), Date.parse(pending.expiresAt) || 0, ctx.signal);
  if (waited.kind !== "answered") return outcome;
  return applyAnswer(services, ctx, pending.requestId, call, waited.response);
}
