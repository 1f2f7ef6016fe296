"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

const testInput = input({ teamId: id(), connectionId: id().optional(), values: ops.connectionInputSchema });
const createInput = input({ teamId: id(), values: ops.connectionInputSchema });
const updateInput = input({ teamId: id(), connectionId: id(), values: ops.connectionInputSchema });
const deleteInput = input({ teamId: id(), connectionId: id() });
const confirmInput = input({
  teamId: id(),
  connectionId: id(),
  position: z.number().int().min(0).max(7),
  fingerprint: z.string().trim().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, "a fingerprint as ssh-keygen -lf prints it: SHA256:…"),
});

export const testConnectionAction = teamAction("admin", testInput, (ctx, parsed) => ops.testConnection(ctx, parsed));

/** A save whose connection test failed answers with that test (its stage, host keys to confirm), not an error. */
async function saved(save: () => Promise<{ id: string }>): Promise<{ id: string } | { test: ops.ConnectionTestView }> {
  try {
    const result = await save();
    revalidatePath("/t/[slug]/connections", "page");
    return result;
  } catch (error) {
    const test = ops.failedTestOf(error);
    if (test) return { test };
    throw error;
  }
}

export const createConnectionAction = teamAction("admin", createInput, (ctx, parsed) => saved(() => ops.createConnection(ctx, parsed)));

export const updateConnectionAction = teamAction("admin", updateInput, (ctx, parsed) => saved(() => ops.updateConnection(ctx, parsed)));

export const deleteConnectionAction = teamAction("admin", deleteInput, async (ctx, parsed) => {
  await ops.deleteConnection(ctx, parsed);
  revalidatePath("/t/[slug]/connections", "page");
});

export const confirmHostKeyAction = teamAction("admin", confirmInput, async (ctx, parsed) => {
  const result = await ops.confirmStoredHostKey(ctx, parsed);
  revalidatePath("/t/[slug]/connections", "page");
  return result;
});
