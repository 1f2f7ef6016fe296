"use server";
import { auditSinkNameSchema, webhookUrlSchema } from "@portcullis/db/operations";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

/** Every change to a sink is an admin's: an auditor (or anyone lower) is refused by the wrapper before any of this runs. */
const addInput = z.union([
  input({ teamId: id(), kind: z.literal("webhook"), name: auditSinkNameSchema, url: webhookUrlSchema() }),
  input({ teamId: id(), kind: z.literal("file"), name: auditSinkNameSchema }),
]);
const sinkInput = input({ teamId: id(), sinkId: id() });
const refresh = () => revalidatePath("/t/[slug]/activity/sinks", "page");

// The webhook's signing secret travels in this reply only, never in the page that re-renders.
export const addAuditSinkAction = teamAction("admin", addInput, async (ctx, parsed) => {
  const { teamId: _team, ...rest } = parsed;
  const result = await ops.addSink(ctx, rest);
  refresh();
  return result;
});

export const pauseAuditSinkAction = teamAction("admin", sinkInput, async (ctx, { sinkId }) => {
  await ops.pauseSink(ctx, sinkId);
  refresh();
  return { sinkId };
});

export const resumeAuditSinkAction = teamAction("admin", sinkInput, async (ctx, { sinkId }) => {
  await ops.resumeSink(ctx, sinkId);
  refresh();
  return { sinkId };
});

export const deleteAuditSinkAction = teamAction("admin", sinkInput, async (ctx, { sinkId }) => {
  await ops.removeSink(ctx, sinkId);
  refresh();
  return { sinkId };
});

export const rotateAuditSinkSecretAction = teamAction("admin", sinkInput, async (ctx, { sinkId }) => ops.rotateSinkSecret(ctx, sinkId));

export const testAuditSinkAction = teamAction("admin", sinkInput, async (ctx, { sinkId }) => {
  const result = await ops.testSink(ctx, sinkId);
  refresh();
  return { result };
});
