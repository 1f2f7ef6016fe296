"use server";
import { revalidatePath } from "next/cache";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

export const replayDeadLettersAction = teamAction("admin", input({ teamId: id() }), async (ctx) => {
  const result = await ops.replayTeamDeadLetters(ctx);
  revalidatePath("/t/[slug]/settings", "page");
  return result;
});
