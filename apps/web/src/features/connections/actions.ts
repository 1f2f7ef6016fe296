"use server";
import { revalidatePath } from "next/cache";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

const testInput = input({ teamId: id(), connectionId: id().optional(), values: ops.connectionInputSchema });
const createInput = input({ teamId: id(), values: ops.connectionInputSchema });
const updateInput = input({ teamId: id(), connectionId: id(), values: ops.connectionInputSchema });
const deleteInput = input({ teamId: id(), connectionId: id() });

export const testConnectionAction = teamAction("admin", testInput, (ctx, parsed) => ops.testConnection(ctx, parsed));

export const createConnectionAction = teamAction("admin", createInput, async (ctx, parsed) => {
  const result = await ops.createConnection(ctx, parsed);
  revalidatePath("/t/[slug]/connections", "page");
  return result;
});

export const updateConnectionAction = teamAction("admin", updateInput, async (ctx, parsed) => {
  const result = await ops.updateConnection(ctx, parsed);
  revalidatePath("/t/[slug]/connections", "page");
  return result;
});

export const deleteConnectionAction = teamAction("admin", deleteInput, async (ctx, parsed) => {
  await ops.deleteConnection(ctx, parsed);
  revalidatePath("/t/[slug]/connections", "page");
});
