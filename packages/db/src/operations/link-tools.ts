import { z } from "zod";
import type { PrismaClient } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";
import { checkSavedTool, type SavedToolCheck, type SavedToolCheckDeps } from "./link-tool-check.js";
import { BUILT_IN_TOOL_NAMES, disabledToolsSchema, savedToolParameterSchema, savedToolSchema, type SavedTool, type SavedToolInput } from "./link-tool-schema.js";
import { parseInput, uuidSchema } from "./sql-db.js";

export * from "./link-tool-schema.js";
export { checkSavedTool, type SavedToolCheck, type SavedToolCheckDeps, type SavedToolPolicy, type SavedToolVerdict } from "./link-tool-check.js";

/**
 * A link's curated tools and the built-in tools it hides (issue 17). The team is resolved by the caller
 * (dashboard wrapper, CLI session); every statement here is also bound to it, so an id of another team
 * is "not found". Saving runs the save-time check (link-tool-check.ts); a refusal is invalid_input with
 * the policy's words. The gateway learns of every change at once (the tables NOTIFY portcullis_access).
 */

export interface LinkToolRow {
  id: string;
  linkId: string;
  name: string;
  title: string | null;
  description: string;
  sql: string;
  parameters: z.output<typeof savedToolParameterSchema>[];
  databaseName: string | null;
  createdById: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const linkRef = z.strictObject({ teamId: uuidSchema, linkId: uuidSchema });
const toolRef = linkRef.extend({ id: uuidSchema });

// A stored row that no longer parses (edited by hand) keeps its parameters as stored; the gateway refuses it.
const storedParameters = z.array(savedToolParameterSchema).catch([]);

function toRow(row: Awaited<ReturnType<PrismaClient["linkTool"]["findFirstOrThrow"]>>): LinkToolRow {
  return {
    id: row.id,
    linkId: row.linkId,
    name: row.name,
    title: row.title,
    description: row.description,
    sql: row.sql,
    parameters: storedParameters.parse(row.parameters),
    databaseName: row.databaseName,
    createdById: row.createdById,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

async function assertLink(prisma: PrismaClient, ref: z.output<typeof linkRef>) {
  const link = await prisma.link.findFirst({ where: { id: ref.linkId, teamId: ref.teamId }, select: { id: true, disabledTools: true } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  return link;
}

/** The link's curated tools, in name order (the order tools/list gives them). */
export async function listLinkTools(prisma: PrismaClient, input: z.input<typeof linkRef>): Promise<LinkToolRow[]> {
  const ref = parseInput(linkRef, input);
  await assertLink(prisma, ref);
  const rows = await prisma.linkTool.findMany({ where: { linkId: ref.linkId, teamId: ref.teamId }, orderBy: { name: "asc" } });
  return rows.map(toRow);
}

async function checked(prisma: PrismaClient, ref: z.output<typeof linkRef>, tool: SavedTool, deps: SavedToolCheckDeps): Promise<Extract<SavedToolCheck, { ok: true }>> {
  const verdict = await checkSavedTool(prisma, { ...ref, tool }, deps);
  if (!verdict.ok) throw new PortcullisError("invalid_input", `the tool was not saved: ${verdict.reason}`, { refusal: verdict.reason });
  return verdict;
}

/** Saves a new curated tool after the save-time check; a name the link already uses is a conflict. */
export async function createLinkTool(
  prisma: PrismaClient,
  input: { teamId: string; linkId: string; createdById?: string | null; tool: SavedToolInput },
  deps: SavedToolCheckDeps,
): Promise<LinkToolRow> {
  const ref = parseInput(linkRef, { teamId: input.teamId, linkId: input.linkId });
  const tool = parseInput(savedToolSchema, input.tool);
  await assertLink(prisma, ref);
  // Bound to the connection it was checked on: the same name on another connection later is not it.
  const { connectionId } = await checked(prisma, ref, tool, deps);
  try {
    const row = await prisma.linkTool.create({
      data: {
        teamId: ref.teamId,
        linkId: ref.linkId,
        name: tool.name,
        title: tool.title,
        description: tool.description,
        sql: tool.sql,
        parameters: tool.parameters,
        databaseName: tool.databaseName,
        connectionId,
        createdById: input.createdById ?? null,
      },
    });
    return toRow(row);
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this link already has a tool named "${tool.name}"`);
    throw error;
  }
}

/** Replaces a curated tool's definition (checked again: the scope or the schema may have changed since). */
export async function updateLinkTool(
  prisma: PrismaClient,
  input: { teamId: string; linkId: string; id: string; tool: SavedToolInput },
  deps: SavedToolCheckDeps,
): Promise<LinkToolRow> {
  const ref = parseInput(toolRef, { teamId: input.teamId, linkId: input.linkId, id: input.id });
  const tool = parseInput(savedToolSchema, input.tool);
  const existing = await prisma.linkTool.findFirst({ where: { id: ref.id, linkId: ref.linkId, teamId: ref.teamId }, select: { id: true } });
  if (!existing) throw new PortcullisError("not_found", "tool not found");
  const { connectionId } = await checked(prisma, ref, tool, deps);
  try {
    const { count } = await prisma.linkTool.updateMany({
      where: { id: ref.id, linkId: ref.linkId, teamId: ref.teamId },
      data: { name: tool.name, title: tool.title, description: tool.description, sql: tool.sql, parameters: tool.parameters, databaseName: tool.databaseName, connectionId },
    });
    if (count === 0) throw new PortcullisError("not_found", "tool not found");
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this link already has a tool named "${tool.name}"`);
    throw error;
  }
  return toRow(await prisma.linkTool.findFirstOrThrow({ where: { id: ref.id, teamId: ref.teamId } }));
}

export async function deleteLinkTool(prisma: PrismaClient, input: z.input<typeof toolRef>): Promise<void> {
  const ref = parseInput(toolRef, input);
  const { count } = await prisma.linkTool.deleteMany({ where: { id: ref.id, linkId: ref.linkId, teamId: ref.teamId } });
  if (count === 0) throw new PortcullisError("not_found", "tool not found");
}

/** The built-in tools the link does not expose (stored sorted, without repeats); returns what was stored. */
export async function setLinkDisabledTools(prisma: PrismaClient, input: { teamId: string; linkId: string; disabledTools: readonly string[] }): Promise<string[]> {
  const ref = parseInput(linkRef, { teamId: input.teamId, linkId: input.linkId });
  const disabledTools = parseInput(disabledToolsSchema, input.disabledTools);
  const { count } = await prisma.link.updateMany({ where: { id: ref.linkId, teamId: ref.teamId }, data: { disabledTools } });
  if (count === 0) throw new PortcullisError("not_found", "link not found");
  return disabledTools;
}

/** The built-in tools with whether the link exposes each, in the contract order (for the dashboard and `link tools`). */
export async function linkBuiltInTools(prisma: PrismaClient, input: z.input<typeof linkRef>): Promise<{ name: string; enabled: boolean }[]> {
  const link = await assertLink(prisma, parseInput(linkRef, input));
  return BUILT_IN_TOOL_NAMES.map((name) => ({ name, enabled: !link.disabledTools.includes(name) }));
}
