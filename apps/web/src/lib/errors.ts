import { PortcullisError, isPortcullisError, type PortcullisErrorCode } from "@portcullis/db/errors";
import { ZodError } from "zod";

export { PortcullisError, isPortcullisError };

export type ActionError = { ok: false; code: PortcullisErrorCode | "unauthenticated" | "unexpected"; error: string; fieldErrors?: Record<string, string> };

export type ActionResult<T = undefined> = { ok: true; data: T } | ActionError;

/**
 * The one mapper from thrown errors to what a form shows. Typed errors carry a sentence written for
 * users; zod errors become per-field messages; anything else is a bug, logged with its stack and
 * shown only as "unexpected error" so internals (SQL, hostnames, stack traces) never reach the page.
 */
export function toActionError(error: unknown): ActionError {
  if (isPortcullisError(error)) {
    const fieldErrors = fieldErrorsOf(error.details?.fieldErrors);
    return { ok: false, code: error.code, error: capitalize(error.message), ...(fieldErrors ? { fieldErrors } : {}) };
  }
  if (error instanceof ZodError) {
    const fieldErrors: Record<string, string> = {};
    for (const issue of error.issues) {
      const key = issue.path.join(".") || "form";
      fieldErrors[key] ??= capitalize(issue.message);
    }
    const first = error.issues[0];
    return { ok: false, code: "invalid_input", error: first ? capitalize(first.message) : "Invalid input", fieldErrors };
  }
  if (error instanceof UnauthenticatedError) return { ok: false, code: "unauthenticated", error: "Your session has ended. Sign in again." };
  console.error("[web] unexpected error in server action", error);
  return { ok: false, code: "unexpected", error: "Something went wrong on our side. Try again; if it persists, check the server log." };
}

export class UnauthenticatedError extends Error {
  constructor() {
    super("not signed in");
    this.name = "UnauthenticatedError";
  }
}

/** Typed errors may name the fields they are about (a scope document's paths); only strings pass. */
function fieldErrorsOf(value: unknown): Record<string, string> | undefined {
  if (!value || typeof value !== "object") return undefined;
  const entries = Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string");
  return entries.length ? Object.fromEntries(entries.map(([k, v]) => [k, capitalize(v)])) : undefined;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
