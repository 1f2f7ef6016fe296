import { headers } from "next/headers";
import { createSafeActionClient } from "next-safe-action";
import { z } from "zod";
import { clientIp } from "./auth";
import { resolveTeam, uuidSchema, type TeamContext } from "./authz";
import type { Need } from "./permissions";
import { toActionError, type ActionError, type ActionResult } from "./errors";
import { requireUser, type SessionUser } from "./session";

/**
 * The one boundary of the dashboard's server actions (next-safe-action). A server action's argument
 * is whatever the browser posts, whatever its TypeScript type says: every action declares a strict
 * zod schema for its whole input, the library parses it before any of our code runs, and only the
 * parsed value reaches the operation. Three entry points:
 *   publicAction  signed out (sign-up, password reset)
 *   userAction    the session resolved on the server (never taken from the input)
 *   teamAction    the session, then the team and the caller's role resolved once from the parsed
 *                 `teamId`, checked against what the action declares it needs (a rank, which an
 *                 auditor never passes, or a permission of ./permissions), handed on as ctx
 * Every failure goes through `toActionError` (typed codes shown, anything else hidden).
 */
const client = createSafeActionClient({
  handleServerError: (error): ActionError => toActionError(error),
});

const signedIn = client.use(async ({ next }) => next({ ctx: { user: await requireUser(), sourceIp: clientIp(await headers()) } }));

type Schema = z.ZodType<unknown, unknown>;
/** A schema whose output carries the team the action is about. */
type TeamSchema = z.ZodType<{ teamId: string }, unknown>;
export type TeamActionContext = TeamContext & { user: SessionUser };

export function publicAction<S extends Schema, T>(schema: S, run: (input: z.output<S>) => Promise<T>) {
  return asResult<[input: z.input<S>], T>(client.inputSchema(schema).action(async ({ parsedInput }) => run(parsedInput as z.output<S>)));
}

export function userAction<S extends Schema, T>(schema: S, run: (ctx: { user: SessionUser; sourceIp: string }, input: z.output<S>) => Promise<T>) {
  return asResult<[input: z.input<S>], T>(signedIn.inputSchema(schema).action(async ({ ctx, parsedInput }) => run(ctx, parsedInput as z.output<S>)));
}

export function teamAction<S extends TeamSchema, T>(need: Need, schema: S, run: (ctx: TeamActionContext, input: z.output<S>) => Promise<T>) {
  const withTeam = signedIn.inputSchema(schema as TeamSchema).useValidated(async ({ parsedInput, ctx, next }) => {
    const team = await resolveTeam(ctx.user, parsedInput.teamId, need);
    return next({ ctx: { ...team, user: ctx.user, sourceIp: ctx.sourceIp } });
  });
  return asResult<[input: z.input<S>], T>(withTeam.action(async ({ ctx, parsedInput }) => run(ctx, parsedInput as z.output<S>)));
}

/** Strict ids: a uuid string and nothing else (an object here would be a Prisma filter). */
export const id = () => uuidSchema;

/** The zod object every action input is built from: unknown keys are refused, not stripped. */
export const input = z.strictObject;

/**
 * The next-safe-action result, in the shape the dashboard's forms read (`ok`, `data`, `code`,
 * `error`, `fieldErrors` keyed by the dotted path of the field).
 */
function asResult<I extends unknown[], T>(
  action: (...args: never[]) => Promise<{ data?: unknown; serverError?: ActionError; validationErrors?: unknown } | undefined>,
): (...args: I) => Promise<ActionResult<T>> {
  return async (...args: I) => {
    const result = await action(...(args as unknown as never[]));
    if (result?.serverError) return result.serverError;
    if (result?.validationErrors) return validationResult(result.validationErrors);
    return { ok: true, data: result?.data as T };
  };
}

function validationResult(errors: unknown): ActionError {
  const fieldErrors: Record<string, string> = {};
  const walk = (node: unknown, path: string[]) => {
    if (!node || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "_errors") {
        const first = Array.isArray(value) ? value.find((v) => typeof v === "string") : undefined;
        if (first) fieldErrors[path.join(".") || "form"] ??= capitalize(first);
      } else walk(value, [...path, key]);
    }
  };
  walk(errors, []);
  const first = Object.values(fieldErrors)[0];
  return { ok: false, code: "invalid_input", error: first ?? "Invalid input", fieldErrors };
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
