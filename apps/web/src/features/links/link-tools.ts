import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import type { PrismaClient } from "@portcullis/db/client";
import { createLinkTool, deleteLinkTool, setLinkDisabledTools, updateLinkTool, type SavedToolInput } from "@portcullis/db/operations";
import * as policy from "@portcullis/policy";
import { recordConfigChange } from "../../lib/config-audit";
import { requireRole, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { playgroundResponseSchema } from "../playground/operations";
import { visibleLinks } from "./operations";
import { PARAMETER_TYPES, typedValue, type SavedToolView } from "./tool-shapes";

const storedParameters = z.array(
  z.object({ name: z.string(), type: z.enum(PARAMETER_TYPES), description: z.string().default(""), required: z.boolean().default(true), default: z.unknown().optional() }),
);

/** A stored row as the Tools tab shows it; a row whose parameters no longer parse shows none (and cannot be tried). */
function view(row: { id: string; name: string; title: string | null; description: string; sql: string; parameters: unknown; databaseName: string | null }): SavedToolView {
  const parameters = storedParameters.safeParse(row.parameters);
  return { id: row.id, name: row.name, title: row.title, description: row.description, sql: row.sql, parameters: parameters.success ? parameters.data : [], databaseName: row.databaseName };
}

/** The saved tools of a link the caller may see, in name order (what tools/list shows after the built-ins). */
export async function linkToolsFor(ctx: TeamContext, linkId: string): Promise<SavedToolView[]> {
  const link = await getPrisma().link.findFirst({ where: { id: linkId, ...visibleLinks(ctx) }, select: { id: true } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const rows = await getPrisma().linkTool.findMany({ where: { linkId: link.id, teamId: ctx.team.id }, orderBy: { name: "asc" } });
  return rows.map(view);
}

/** Values typed in the Try-it form, at most one per parameter name. */
export const toolArgumentsSchema = z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), z.string().max(10_000)).refine((r) => Object.keys(r).length <= 20, "at most 20 arguments");

/**
 * The form's text as the JSON values an AI client would send, by parameter name; an empty optional
 * one is left out (the tool's default, or NULL, applies at the gateway). Text that cannot be of its
 * type, a missing required value and a name the tool does not have are refused here in words (the
 * gateway's parse ignores unknown names: a typo must not silently run with the default); whether a
 * value is valid for its type beyond that is the gateway's parse of the tool's own input.
 */
export function toolArgumentValues(tool: SavedToolView, args: Record<string, string>): Record<string, string | number | boolean> {
  const known = new Set(tool.parameters.map((p) => p.name));
  const unknown = Object.keys(args).filter((k) => !known.has(k));
  if (unknown.length) throw new PortcullisError("invalid_input", `the tool ${tool.name} has no parameter ${unknown.join(", ")}`);
  const values: Record<string, string | number | boolean> = {};
  for (const p of tool.parameters) {
    const text = args[p.name];
    if (text === undefined || text === "") {
      if (p.required) throw new PortcullisError("invalid_input", `the parameter ${p.name} is required`, { fieldErrors: { [`arguments.${p.name}`]: "required" } });
      continue;
    }
    const typed = typedValue(p.type, text);
    if (!typed.ok) throw new PortcullisError("invalid_input", `the parameter ${p.name} must be ${typed.error}`, { fieldErrors: { [`arguments.${p.name}`]: typed.error } });
    values[p.name] = typed.value;
  }
  return values;
}

/** What the gateway's Playground endpoint answers when it ran nothing, as the dashboard's error codes. */
const REFUSAL_CODES: Record<number, "invalid_input" | "forbidden" | "not_found"> = { 403: "forbidden", 404: "not_found", 422: "invalid_input" };

/**
 * Calls a saved tool by its name with these values through the gateway's Playground endpoint, as the
 * signed-in user: the gateway checks the user may use the link, parses the arguments with the tool's
 * own input schema, runs its stored statement on its database under the scope as it is now, and records
 * the call under the tool's name. The browser sends values only, never SQL.
 */
export async function tryLinkTool(ctx: TeamContext, input: { linkId: string; toolId: string; arguments: Record<string, string> }) {
  requireRole(ctx, "member");
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: input.linkId, ...visibleLinks(ctx) } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const row = await prisma.linkTool.findFirst({ where: { id: input.toolId, linkId: link.id, teamId: ctx.team.id } });
  if (!row) throw new PortcullisError("not_found", "tool not found");
  if (link.status !== "active") throw new PortcullisError("forbidden", `the link "${link.name}" is disabled; enable it on its Scope tab to run tools`);
  const tool = view(row);
  const values = toolArgumentValues(tool, input.arguments);
  const { GATEWAY_INTERNAL_TOKEN, gatewayInternalUrl } = env();
  if (!GATEWAY_INTERNAL_TOKEN) throw new PortcullisError("unavailable", "trying tools is off: set GATEWAY_INTERNAL_TOKEN for the dashboard and the gateway");
  let response: Response;
  try {
    response = await fetch(`${gatewayInternalUrl}/internal/links/${link.id}/playground`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_INTERNAL_TOKEN}` },
      body: JSON.stringify({ tool: tool.name, arguments: values, userId: ctx.user.userId }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new PortcullisError("unavailable", `the gateway at ${gatewayInternalUrl} did not answer (${(error as Error).message}); is it running?`);
  }
  const body = await response.json().catch(() => null);
  const parsed = playgroundResponseSchema.safeParse(body);
  if (!parsed.success) {
    const said = typeof body === "object" && body && "error" in body ? String((body as { error: unknown }).error).slice(0, 2000) : undefined;
    const code = REFUSAL_CODES[response.status];
    if (code && said) throw new PortcullisError(code, said);
    throw new PortcullisError("unavailable", `the gateway answered ${response.status} ${said ?? "unexpectedly"}`);
  }
  return parsed.data;
}

type ToolChange = { linkId: string; tool: SavedToolInput };

async function auditedToolChange<T>(ctx: TeamContext, linkId: string, action: string, change: (tx: PrismaClient) => Promise<T>, detail: (result: T) => { before?: unknown; after?: unknown }) {
  return getPrisma().$transaction(async (tx) => {
    const link = await tx.link.findFirst({ where: { id: linkId, teamId: ctx.team.id }, select: { id: true, name: true } });
    if (!link) throw new PortcullisError("not_found", "link not found");
    const result = await change(tx as unknown as PrismaClient);
    await recordConfigChange(tx, { teamId: ctx.team.id, actorUserId: ctx.user.userId, action, target: { type: "link", id: link.id, name: link.name }, ...detail(result), sourceIp: ctx.sourceIp });
    return result;
  }, { timeout: 30_000 });
}

/**
 * Saves (creates or replaces) a curated tool. The db operation parses it, checks it against its
 * database's scope and catalog as the gateway would (the target is reached for that), and refuses it in
 * the policy's words; that sentence is what the form shows.
 */
export async function saveLinkTool(ctx: TeamContext, input: ToolChange & { toolId?: string }) {
  requireRole(ctx, "admin");
  const deps = { policy };
  const row = input.toolId
    ? await auditedToolChange(ctx, input.linkId, "link.tool.update", (tx) => updateLinkTool(tx, { teamId: ctx.team.id, linkId: input.linkId, id: input.toolId!, tool: input.tool }, deps), (r) => ({ after: r }))
    : await auditedToolChange(ctx, input.linkId, "link.tool.create", (tx) => createLinkTool(tx, { teamId: ctx.team.id, linkId: input.linkId, createdById: ctx.user.userId, tool: input.tool }, deps), (r) => ({ after: r }));
  return { id: row.id, name: row.name };
}

export async function removeLinkTool(ctx: TeamContext, input: { linkId: string; toolId: string }) {
  requireRole(ctx, "admin");
  const before = await getPrisma().linkTool.findFirst({ where: { id: input.toolId, linkId: input.linkId, teamId: ctx.team.id } });
  await auditedToolChange(ctx, input.linkId, "link.tool.delete", (tx) => deleteLinkTool(tx, { teamId: ctx.team.id, linkId: input.linkId, id: input.toolId }), () => ({ before }));
}

/** Which built-in tools the link hides (execute_sql off: a link that offers only its curated tools). */
export async function setBuiltInTools(ctx: TeamContext, input: { linkId: string; disabledTools: string[] }) {
  requireRole(ctx, "admin");
  const before = await getPrisma().link.findFirst({ where: { id: input.linkId, teamId: ctx.team.id }, select: { disabledTools: true } });
  return auditedToolChange(
    ctx,
    input.linkId,
    "link.tools.update",
    (tx) => setLinkDisabledTools(tx, { teamId: ctx.team.id, linkId: input.linkId, disabledTools: input.disabledTools }),
    (stored) => ({ before: { disabledTools: before?.disabledTools ?? [] }, after: { disabledTools: stored } }),
  );
}
