"use server";
import { revalidatePath } from "next/cache";
import { runAction } from "../../lib/action";
import { revokeOtherSessions, revokeSession } from "./operations";

export async function revokeOtherSessionsAction() {
  return runAction(async (user) => {
    const result = await revokeOtherSessions(user);
    revalidatePath("/account");
    return result;
  });
}

export async function revokeSessionAction(sessionId: string) {
  return runAction(async (user) => {
    await revokeSession(user, sessionId);
    revalidatePath("/account");
  });
}
