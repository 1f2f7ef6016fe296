import type { SessionUser } from "./session";
import { requireUser } from "./session";
import { toActionError, type ActionResult } from "./errors";

/**
 * Every server action runs through here: the session is resolved on the server (never taken from
 * the client), and every failure becomes a typed result the form can show.
 */
export async function runAction<T>(fn: (user: SessionUser) => Promise<T>): Promise<ActionResult<T>> {
  try {
    const user = await requireUser();
    return { ok: true, data: await fn(user) };
  } catch (error) {
    return toActionError(error);
  }
}

/** For the few actions that run signed out (sign-up, password reset). */
export async function runPublicAction<T>(fn: () => Promise<T>): Promise<ActionResult<T>> {
  try {
    return { ok: true, data: await fn() };
  } catch (error) {
    return toActionError(error);
  }
}
