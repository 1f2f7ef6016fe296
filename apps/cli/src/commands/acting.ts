import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import { normalizeEmail } from "@portcullis/db/operations";
import { db } from "../context.js";

/**
 * `--as EMAIL`: the person an operator acts for. The CLI is an operator tool, but approvals are made
 * by people: the decision is recorded as theirs, and the operations check they may make it.
 */
export async function actingMember(teamId: string, email: string): Promise<{ id: string; email: string; role: string }> {
  const parsed = z.string().trim().email("--as takes the e-mail address of a member of the team").safeParse(email);
  if (!parsed.success) throw new PortcullisError("invalid_input", parsed.error.issues[0]!.message);
  const user = await db().user.findUnique({ where: { email: normalizeEmail(parsed.data) }, select: { id: true, email: true } });
  const membership = user ? await db().membership.findUnique({ where: { teamId_userId: { teamId, userId: user.id } } }) : null;
  if (!user || !membership) throw new PortcullisError("not_found", `${normalizeEmail(parsed.data)} is not a member of this team`);
  return { id: user.id, email: user.email, role: membership.role };
}

/** A uuid argument (a request or grant id), refused with a sentence rather than a database error. */
export function idArgument(value: string, what: string): string {
  const parsed = z.string().uuid().safeParse(value.trim());
  if (!parsed.success) throw new PortcullisError("invalid_input", `${what} must be an id (a uuid), got ${JSON.stringify(value)}`);
  return parsed.data.toLowerCase();
}

/** "a,b" → ["a","b"], each checked against `allowed`. */
export function listOption<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  const parsed = z.array(z.enum(allowed as unknown as [T, ...T[]])).min(1).safeParse(items);
  if (!parsed.success) throw new PortcullisError("invalid_input", `${what} takes one or more of ${allowed.join(", ")} (comma-separated), got ${JSON.stringify(value)}`);
  return parsed.data as T[];
}

/** A comment or reason: at most 2,000 characters. */
export function textOption(value: string | undefined, what: string, required = false): string | undefined {
  if (value === undefined) {
    if (required) throw new PortcullisError("invalid_input", `${what} is required`);
    return undefined;
  }
  const parsed = z.string().trim().min(required ? 1 : 0).max(2000).safeParse(value);
  if (!parsed.success) throw new PortcullisError("invalid_input", `${what} must be ${required ? "1 to " : "at most "}2,000 characters`);
  return parsed.data;
}
