/**
 * Typed errors raised by shared operations. Each transport maps them once: the CLI to an exit code
 * and message, the dashboard to a form error, the gateway to an MCP error. Anything else is a bug and
 * is shown to users only as "unexpected error" (its details go to the log).
 */
export type PortcullisErrorCode = "not_found" | "conflict" | "plan_limit" | "invalid_input" | "forbidden" | "unavailable";

export class PortcullisError extends Error {
  constructor(
    readonly code: PortcullisErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "PortcullisError";
  }
}

export function isPortcullisError(error: unknown): error is PortcullisError {
  return error instanceof PortcullisError;
}

/** Prisma's unique-constraint violation, mapped to a conflict with a readable message. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: string }).code === "P2002";
}
