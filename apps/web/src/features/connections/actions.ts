"use server";
import { revalidatePath } from "next/cache";
import { runAction } from "../../lib/action";
import * as ops from "./operations";

export async function testConnectionAction(input: { teamId: string; connectionId?: string; values: ops.ConnectionInput }) {
  return runAction((user) => ops.testConnection(user, input));
}

export async function createConnectionAction(input: { teamId: string; values: ops.ConnectionInput }) {
  return runAction(async (user) => {
    const result = await ops.createConnection(user, input);
    revalidatePath("/t/[slug]/connections", "page");
    return result;
  });
}

export async function updateConnectionAction(input: { teamId: string; connectionId: string; values: ops.ConnectionInput }) {
  return runAction(async (user) => {
    const result = await ops.updateConnection(user, input);
    revalidatePath("/t/[slug]/connections", "page");
    return result;
  });
}

export async function deleteConnectionAction(input: { teamId: string; connectionId: string }) {
  return runAction(async (user) => {
    await ops.deleteConnection(user, input);
    revalidatePath("/t/[slug]/connections", "page");
  });
}
