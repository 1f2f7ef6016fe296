import type { SessionUser } from "./session";
import { requireUser } from "./session";
import { toActionError, type ActionResult } from "./errors";

/**
 * Server actions are built on the action client (./action-client): `publicAction`, `userAction`,
 * `teamAction`, each parsing its whole input with a strict zod schema before anything runs.
 */
export { id, input, publicAction, teamAction, userAction, type TeamActionContext } from "./action-client";
export type { ActionError, ActionResult } from "./errors";

/** @deprecated Unparsed input: kept only until the last caller moves to `userAction`. */
export async function runAction<T>(fn: (user: SessionUser) => Promise<T>): Promise<ActionResult<T>> {
  try {
    const user = await requireUser();
    return { ok: true, data: await fn(user) };
  } catch (error) {
    return toActionError(error);
  }
}

/** @deprecated Unparsed input: kept only until the last caller moves to `publicAction`. */
export async function runPublicAction<T>(fn: () => Promise<T>): Promise<ActionResult<T>> {
  try {
    return { ok: true, data: await fn() };
  } catch (error) {
    return toActionError(error);
  }
}
