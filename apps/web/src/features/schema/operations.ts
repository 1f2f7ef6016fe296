import { z } from "zod";
import { parseScope, type MaskKind } from "@portcullis/policy/scope";
import { PortcullisError } from "@portcullis/db/errors";
import { idOrNotFound, requireRole, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { QUEUES, descriptionsJobSchema, getDescriptionsStatus, type DescriptionsStatus } from "@portcullis/jobs";
import { enqueueDescriptions, enqueueIntrospection, queue, withQueueTimeout } from "../../lib/redis";
import { snapshotDiff } from "./format";

/** The parts of the worker's snapshot document (apps/worker/src/schema/snapshot.ts) the page shows. */
export interface SnapshotTable {
  schema: string;
  name: string;
  kind: string;
  comment: string | null;
  rowEstimate: number | null;
  columns: { name: string; type: string; nullable: boolean; comment: string | null }[];
  primaryKey: string[] | null;
}

export interface DescriptionInfo {
  description: string;
  source: "ai" | "human" | "heuristic";
  model: string | null;
  updatedAt: Date;
  updatedBy: string | null;
}

export async function schemaView(ctx: TeamContext, connectionIdParam: string) {
  requireRole(ctx, "admin");
  const teamId = ctx.team.id;
  const connectionId = idOrNotFound(connectionIdParam, "connection");
  const prisma = getPrisma();
  const connection = await prisma.connection.findFirst({ where: { id: connectionId, teamId }, select: { id: true, name: true } });
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  const [snapshot, descriptions, links] = await Promise.all([
    prisma.schemaSnapshot.findFirst({ where: { connectionId }, orderBy: { takenAt: "desc" } }),
    prisma.schemaDescription.findMany({ where: { connectionId }, include: { updatedBy: { select: { name: true, email: true } } } }),
    prisma.link.findMany({ where: { connectionId, teamId }, select: { id: true, name: true, scope: true }, orderBy: { name: "asc" } }),
  ]);
  const byKey = new Map<string, DescriptionInfo>();
  for (const d of descriptions) {
    byKey.set(`${d.schemaName}.${d.tableName}.${d.columnName}`, {
      description: d.description,
      source: d.source,
      model: d.model,
      updatedAt: d.updatedAt,
      updatedBy: d.updatedBy ? (d.updatedBy.name ?? d.updatedBy.email) : null,
    });
  }
  const doc = snapshot?.snapshot as { tables?: SnapshotTable[] } | undefined;
  return { connection, takenAt: snapshot?.takenAt ?? null, tables: doc?.tables ?? [], diff: snapshotDiff(snapshot?.diff), descriptions: byKey, links };
}

/** What a link hides of a table: the whole table, some columns, or nothing; and what it masks or filters. */
export function hiddenUnder(
  scope: unknown,
  schema: string,
  table: string,
): { table: boolean; columns: Set<string>; masked: Map<string, MaskKind>; filtered: boolean } {
  const parsed = parseScope(scope);
  // A stored scope that no longer parses makes the gateway refuse the link: show it as hiding all.
  if (!parsed.ok) return { table: true, columns: new Set(), masked: new Map(), filtered: false };
  const s = parsed.scope;
  const rule = s.tables[schema === "public" ? table : `${schema}.${table}`] ?? s.tables[`${schema}.${table}`];
  const access = rule?.access ?? s.access;
  const outsideSchemas = !!s.schemas && !s.schemas.includes(schema);
  return {
    table: access === "none" || outsideSchemas,
    columns: new Set(rule?.hiddenColumns ?? []),
    masked: new Map(Object.entries(rule?.maskedColumns ?? {})),
    filtered: rule?.rowFilter !== undefined,
  };
}

export const descriptionSchema = z.string().trim().min(1, "a description cannot be empty; write what the table or column holds").max(2000, "keep descriptions under 2000 characters");

/** A human edit: marked `human`, so regenerating never overwrites it (the worker's rule). */
export async function updateDescription(
  ctx: TeamContext,
  input: { connectionId: string; schema: string; table: string; column: string; description: string },
) {
  requireRole(ctx, "admin");
  const prisma = getPrisma();
  const connection = await prisma.connection.findFirst({ where: { id: input.connectionId, teamId: ctx.team.id } });
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  const { description } = input;
  const key = { connectionId: connection.id, schemaName: input.schema, tableName: input.table, columnName: input.column };
  return prisma.$transaction(async (tx) => {
    const before = await tx.schemaDescription.findUnique({ where: { connectionId_schemaName_tableName_columnName: key } });
    const row = await tx.schemaDescription.upsert({
      where: { connectionId_schemaName_tableName_columnName: key },
      create: { ...key, description, source: "human", updatedById: ctx.user.userId },
      update: { description, source: "human", model: null, updatedById: ctx.user.userId },
    });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "schema.description.update",
      target: { type: "connection", id: connection.id, name: `${connection.name}: ${[input.schema, input.table, input.column].filter(Boolean).join(".")}` },
      before: before ? { description: before.description, source: before.source } : undefined, after: { description, source: "human" }, sourceIp: ctx.sourceIp,
    });
    return row;
  });
}

/**
 * Re-introspects and queues new descriptions. Human-edited descriptions are kept unless `resetHuman`
 * (then they are deleted first, so the describer writes fresh ones).
 */
export async function regenerateDescriptions(ctx: TeamContext, input: { connectionId: string; tables?: string[]; resetHuman?: boolean }) {
  requireRole(ctx, "admin");
  const prisma = getPrisma();
  const connection = await prisma.connection.findFirst({ where: { id: input.connectionId, teamId: ctx.team.id } });
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  if (input.resetHuman && input.tables?.length) {
    for (const key of input.tables) {
      const [schema, table] = key.includes(".") ? key.split(".", 2) : ["public", key];
      await prisma.schemaDescription.deleteMany({ where: { connectionId: connection.id, schemaName: schema, tableName: table } });
    }
  }
  try {
    await enqueueIntrospection({ connectionId: connection.id, reason: "on_demand" });
    const jobId = await enqueueDescriptions({ connectionId: connection.id, ...(input.tables?.length ? { tables: input.tables } : {}), requestedById: ctx.user.userId });
    return { jobId };
  } catch (error) {
    throw new PortcullisError("unavailable", `could not queue the job (is Redis running?): ${(error as Error).message}`);
  }
}

/**
 * Progress of a descriptions job, polled by the Schema page. BullMQ job ids are sequential, so the
 * job is only answered for when it describes a connection of this team: another team's id answers
 * exactly like an id that does not exist, and its table names stay unseen.
 */
export async function descriptionsStatus(ctx: TeamContext, input: { connectionId: string; jobId: string }): Promise<DescriptionsStatus> {
  requireRole(ctx, "admin");
  const { jobId } = input;
  const connection = await getPrisma().connection.findFirst({ where: { id: input.connectionId, teamId: ctx.team.id }, select: { id: true } });
  if (!connection) throw new PortcullisError("not_found", "connection not found");
  const descriptions = queue(QUEUES.descriptions);
  const job = await withQueueTimeout(descriptions.getJob(jobId));
  const data = descriptionsJobSchema.safeParse(job?.data);
  if (!job || !data.success || data.data.connectionId !== connection.id) throw new PortcullisError("not_found", "this descriptions job is no longer tracked");
  const status = await withQueueTimeout(getDescriptionsStatus(descriptions, jobId));
  if (!status) throw new PortcullisError("not_found", "this descriptions job is no longer tracked");
  return status;
}
