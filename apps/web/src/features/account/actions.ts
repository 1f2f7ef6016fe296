"use server";
import { revalidatePath } from "next/cache";
import { id, input, userAction } from "../../lib/action";
import { revokeOtherSessions, revokeSession } from "./operations";

export const revokeOtherSessionsAction = userAction(input({}), async (ctx) => {
  const result = await revokeOtherSessions(ctx.user);
  revalidatePath("/account");
  return result;
});

export const revokeSessionAction = userAction(input({ sessionId: id() }), async (ctx, parsed) => {
  await revokeSession(ctx.user, parsed.sessionId);
  revalidatePath("/account");
});
