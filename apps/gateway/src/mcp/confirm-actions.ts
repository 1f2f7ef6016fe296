import type { CallOutcome } from "../calls/call-outcome.js";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";

type Confirm = (services: Services, ctx: CallContext, requestId: string, args: Record<string, unknown>) => Promise<CallOutcome>;
type Decline = (services: Services, ctx: CallContext, requestId: string) => Promise<CallOutcome>;

// G1's module (calls/) is not in the tree yet: bound lazily so the gateway loads meanwhile; until it
// lands a confirmation fails closed (nothing is decided, nothing runs). Becomes a static import then.
const G1_MODULE = "../calls/confirm-write.js";
let bound: Promise<{ confirmAndExecute: Confirm; declineConfirmation: Decline }> | undefined;
const load = () => (bound ??= import(/* @vite-ignore */ G1_MODULE) as Promise<{ confirmAndExecute: Confirm; declineConfirmation: Decline }>);

const unavailable = (requestId: string): CallOutcome => ({
  kind: "failed",
  failure: { code: "internal", message: "confirmations in the client are not available on this gateway yet; confirm the request in the dashboard", retryable: false },
  audit: { verdict: "error", error: "confirmation path not loaded", writeRequestId: requestId },
});

/**
 * The call path's two confirmation entries (calls/, G1): the caller's yes (decide via "client", then
 * claim and run once, audited with the request id) and no (the request rejected, nothing ran). Bound
 * here, in one place, so the protocol layer never decides or runs anything itself.
 */
export const confirmActions: { confirm: Confirm; decline: Decline } = {
  async confirm(services, ctx, requestId, args) {
    const g1 = await load().catch(() => null);
    return g1 ? g1.confirmAndExecute(services, ctx, requestId, args) : unavailable(requestId);
  },
  async decline(services, ctx, requestId) {
    const g1 = await load().catch(() => null);
    return g1 ? g1.declineConfirmation(services, ctx, requestId) : unavailable(requestId);
  },
};
