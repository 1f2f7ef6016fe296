"use server";
import { revalidatePath } from "next/cache";
import { runAction } from "../../lib/action";
import * as ops from "./operations";

export async function replayDeadLettersAction(input: { teamId: string }) {
  return runAction(async (user) => {
    const result = await ops.replayTeamDeadLetters(user, input.teamId);
    revalidatePath("/t/[slug]/settings", "page");
    return result;
  });
}
