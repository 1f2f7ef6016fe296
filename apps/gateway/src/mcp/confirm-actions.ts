import type { CallOutcome } from "../calls/call-outcome.js";
import { confirmAndExecute, declineConfirmation } from "../calls/confirm-write.js";
import type { CallContext } from "../context.js";
import type { Services } from "../services.js";

/**
 * The call path's two confirmation entries (calls/confirm-write.ts): the caller's yes (decided via
 * "client", then claimed and run once, audited with the request id) and no (the request rejected,
 * nothing ran). Bound here, in one place, so the protocol layer never decides or runs anything itself.
 */
export const confirmActions: {
  confirm(services: Services, ctx: CallContext, requestId: string, args: Record<string, unknown>, tool?: string): Promise<CallOutcome>;
  decline(services: Services, ctx: CallContext, requestId: string, tool?: string): Promise<CallOutcome>;
} = { confirm: confirmAndExecute, decline: declineConfirmation };
