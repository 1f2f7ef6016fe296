"use server";
import { revalidatePath } from "next/cache";
import { runAction } from "../../lib/action";
import * as ops from "./operations";

export async function issueKeyAction(input: { teamId: string; linkId: string; name: string; expiresInDays: number | null; userId?: string }) {
  return runAction((user) => ops.issueKey(user, input));
}

export async function revokeKeyAction(input: { teamId: string; keyId: string }) {
  return runAction(async (user) => {
    await ops.revokeKey(user, input);
    revalidatePath("/t/[slug]", "layout");
  });
}
