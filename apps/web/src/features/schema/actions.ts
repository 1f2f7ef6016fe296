"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

// PostgreSQL identifiers are at most 63 bytes; an empty column means "the table itself".
const identifier = z.string().max(128);
const tableKey = z.string().min(1).max(300);

const describeInput = input({
  teamId: id(),
  connectionId: id(),
  schema: identifier.min(1),
  table: identifier.min(1),
  column: identifier,
  description: ops.descriptionSchema,
});
const regenerateInput = input({ teamId: id(), connectionId: id(), tables: z.array(tableKey).max(1000).optional(), resetHuman: z.boolean().optional() });
const statusInput = input({ teamId: id(), connectionId: id(), jobId: z.string().min(1).max(100) });

export const updateDescriptionAction = teamAction("admin", describeInput, async (ctx, parsed) => {
  await ops.updateDescription(ctx, parsed);
  revalidatePath("/t/[slug]/schema", "page");
});

export const regenerateDescriptionsAction = teamAction("admin", regenerateInput, (ctx, parsed) => ops.regenerateDescriptions(ctx, parsed));

/** Polled every 2 s by the Regenerate button while its job runs. */
export const descriptionsStatusAction = teamAction("admin", statusInput, (ctx, parsed) => ops.descriptionsStatus(ctx, parsed));
