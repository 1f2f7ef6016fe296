import { isPortcullisError } from "@portcullis/db/errors";

/** Output helpers: every command prints a human line by default, or one JSON document with --json. */
export interface OutputOptions {
  json?: boolean;
}

export function emit(options: OutputOptions, data: unknown, human: () => string): void {
  if (options.json) process.stdout.write(`${JSON.stringify(data, jsonReplacer)}\n`);
  else process.stdout.write(`${human()}\n`);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** The issue-15 decisions' typed refusals (already_decided, not_approver, …): known outcomes, exit 1. */
function decisionError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && (error.name === "WriteRequestDecisionError" || error.name === "AccessGrantError") && typeof (error as { code?: unknown }).code === "string";
}

/** Exit codes: 1 bad input / not found / conflict / refused decision, 2 usage (commander), 3 unavailable, 70 internal. */
export function fail(options: OutputOptions, error: unknown): never {
  const known = isPortcullisError(error) || decisionError(error);
  const code = known ? error.code : "internal";
  const message = known ? error.message : `unexpected error: ${(error as Error)?.message ?? String(error)}`;
  if (options.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  process.stderr.write(`error: ${message}\n`);
  process.exit(known ? (code === "unavailable" ? 3 : 1) : 70);
}
