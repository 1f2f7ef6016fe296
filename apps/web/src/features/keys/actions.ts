"use server";
import { revalidatePath } from "next/cache";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

// Members issue keys for themselves; for someone else the operation asks for admin.
const issueInput = input({ teamId: id(), linkId: id(), name: ops.keyNameSchema, expiresInDays: ops.expiresInDaysSchema, userId: id().optional() });
const revokeInput = input({ teamId: id(), keyId: id() });

export const issueKeyAction = teamAction("member", issueInput, (ctx, parsed) => ops.issueKey(ctx, parsed));

// Viewers may hold no keys, but revoking one's own old key stays possible after a demotion.
export const revokeKeyAction = teamAction("viewer", revokeInput, async (ctx, parsed) => {
  await ops.revokeKey(ctx, parsed);
  revalidatePath("/t/[slug]", "layout");
});
