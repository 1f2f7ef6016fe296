/**
 * Server actions are built on the action client (./action-client): `publicAction`, `userAction`,
 * `teamAction`, each parsing its whole input with a strict zod schema before anything runs.
 */
export { id, input, publicAction, teamAction, userAction, type TeamActionContext } from "./action-client";
export type { ActionError, ActionResult } from "./errors";
