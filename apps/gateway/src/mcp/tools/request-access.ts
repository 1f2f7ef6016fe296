import { AccessGrantError, requestAccessGrant } from "@portcullis/db/operations";
import { accessView, canGrant } from "@portcullis/policy";
import { z } from "zod";
import type { CallOutcome, TypedTool } from "../../calls/call-outcome.js";
import { storedDatabaseName } from "../../access/link-database.js";
import { linkAllowance } from "../../calls/link-allowance.js";

const LEVEL = { none: 0, read: 1, write: 2, admin: 3 } as const;

const input = z.object({
  table: z.string().trim().min(1).max(200).describe('The table, as a statement names it: "schema.table", or "table" for schema public (names as stored, case included)'),
  access: z.enum(["read", "write", "admin"]).describe("The access level needed: write (INSERT/UPDATE/DELETE), admin (also DDL)"),
  minutes: z.number().int().min(1).max(1440).default(60).describe("How long the access should last once granted (1 to 1,440 minutes)"),
  reason: z.string().trim().min(1).max(2000).describe("Why it is needed, for the person who decides"),
});

const output = z.object({
  grantId: z.string().nullable().describe("The access request's id; null when nothing needed asking"),
  status: z.enum(["pending", "granted", "not_needed"]).describe("pending: waiting for an approver; granted: already in force; not_needed: the link already gives it"),
  table: z.string().describe('"schema.table"'),
  access: z.enum(["read", "write", "admin"]),
  minutes: z.number().int(),
  requestExpiresAt: z.string().nullable().describe("A request nobody decides expires then (ISO 8601)"),
  message: z.string(),
});

/** "schema.table" from a caller's name: "table" is in schema public; names are taken as stored. */
function tableKeyOf(name: string): string {
  const unquoted = /^"[^"]+"(\."[^"]+")?$/.test(name) ? name.replaceAll('"', "") : name;
  return unquoted.includes(".") ? unquoted : `public.${unquoted}`;
}

function refused(ruleId: string, reason: string, link: Parameters<typeof linkAllowance>[0], audit: { tables?: string[] } = {}): CallOutcome {
  return { kind: "refused", refusal: { ruleId, reason, allows: linkAllowance(link) }, audit: { verdict: "blocked", ruleId, reason, ...audit } };
}

/**
 * Time-boxed elevation (issue 15): a member asks for more access to one table for a while; an approver
 * grants it in the dashboard or CLI, and from then until it ends the member's calls run under the link's
 * scope raised for that table (get_permissions shows it). Asking changes no data, and needs no OAuth
 * scope beyond the token's: it only creates a request a person decides.
 */
export const requestAccessTool: TypedTool<typeof input> = {
  name: "request_access",
  title: () => "Ask for more access to a table, for a while",
  description: () =>
    "Asks the team's approvers for more access to one table of this link (write, or admin for DDL) for a number of minutes, with a reason. " +
    "Nothing changes until an approver grants it; get_permissions shows grants in force and requests still pending. Use it when a statement was refused for lack of access and the task needs it.",
  input,
  output,
  annotations: () => ({ readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }),
  async run(args, ctx, services) {
    const { link, principal } = ctx;
    if (!principal.userId) {
      return refused("member_required", "Access can be requested only by a team member's key or OAuth token; this caller is not a member. Nothing was requested. [rule member_required]", link);
    }
    const key = tableKeyOf(args.table);
    const catalog = await services.catalogFor(link);
    // Resolved on the caller's effective scope: a hidden table reads exactly like a missing one, and a
    // grant in force already counts as "the link gives it".
    const relation = accessView(link.scope, catalog).relations.get(key);
    if (!relation) {
      const reason = `relation "${key}" does not exist. Nothing was requested. [rule undefined_table]`;
      return refused("undefined_table", reason, link);
    }
    const base = { table: key, access: args.access, minutes: args.minutes };
    if (LEVEL[relation.access] >= LEVEL[args.access]) {
      const granted = link.grants?.find((g) => g.tableKey === key && LEVEL[g.access] >= LEVEL[args.access]);
      const message = granted
        ? `Nothing to ask: a grant gives ${granted.access} on ${key} until ${new Date(granted.expiresAt).toISOString()}.`
        : `Nothing to ask: this link already gives ${relation.access} access on ${key}.`;
      return {
        kind: "ok",
        data: { ...base, grantId: granted?.id ?? null, status: granted ? "granted" : "not_needed", requestExpiresAt: null, message },
        audit: { verdict: "allowed", tables: [key], ...(granted ? { accessGrantId: granted.id } : {}) },
      };
    }
    if (args.access === "admin" && link.adminRefusal !== null) {
      // The role's name and the remedy are the admin's business: the caller learns only that admin is out.
      const reason = `admin access cannot be granted on this link: its database connection's role reaches beyond its database, or has not been checked, so it carries read and write links only. Ask for write instead, or ask a team admin. Nothing was requested. [rule admin_not_grantable]`;
      return refused("admin_not_grantable", reason, link, { tables: [key] });
    }
    const possible = canGrant(link.scope, key, args.access, catalog);
    if (!possible.ok) return refused("access_not_grantable", `${possible.reason}. Nothing was requested. [rule access_not_grantable]`, link, { tables: [key] });
    let grant;
    try {
      grant = await requestAccessGrant(services.metadata, {
        teamId: link.teamId,
        linkId: link.id,
        userId: principal.userId,
        tableKey: key,
        access: args.access,
        minutes: args.minutes,
        reason: args.reason,
        via: "tool",
        requestedBy: principal.userId,
        apiKeyId: principal.apiKeyId,
        oauthClientId: principal.oauthClientId,
        sourceIp: ctx.sourceIp?.slice(0, 64) ?? null,
        // Issue 17: the grant applies to this database's record only (null: the link's first).
        databaseName: storedDatabaseName(link),
        // Attack finding 2: and only while that name is this connection.
        connectionId: link.connection.id,
      });
    } catch (error) {
      if (!(error instanceof AccessGrantError)) throw error;
      // The member lost the link between authentication and now: said plainly, nothing stored.
      return refused("access_request_refused", `${error.message}. Nothing was requested. [rule access_request_refused]`, link, { tables: [key] });
    }
    const requestExpiresAt = grant.requestExpiresAt.toISOString();
    const message =
      `Asked for ${grant.access} on ${key} for ${grant.minutes} minute${grant.minutes === 1 ? "" : "s"} (request ${grant.id}). ` +
      `An approver must grant it; get_permissions shows it once active. Until then statements that need it are refused as before. ` +
      `If nobody decides, the request expires at ${requestExpiresAt}.`;
    return {
      kind: "ok",
      // An identical open request is returned rather than a second one (its minutes are the first's).
      data: { grantId: grant.id, status: "pending", table: key, access: grant.access, minutes: grant.minutes, requestExpiresAt, message },
      audit: { verdict: "allowed", tables: [key], accessGrantId: grant.id },
    };
  },
};
