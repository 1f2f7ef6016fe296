"use server";
import { revalidatePath } from "next/cache";
import { runAction } from "../../lib/action";
import * as ops from "./operations";

export async function updateDescriptionAction(input: { teamId: string; connectionId: string; schema: string; table: string; column: string; description: string }) {
  return runAction(async (user) => {
    await ops.updateDescription(user, input);
    revalidatePath("/t/[slug]/schema", "page");
  });
}

export async function regenerateDescriptionsAction(input: { teamId: string; connectionId: string; tables?: string[]; resetHuman?: boolean }) {
  return runAction((user) => ops.regenerateDescriptions(user, input));
}

/** Polled every 2 s by the Regenerate button while its job runs. */
export async function descriptionsStatusAction(input: { teamId: string; connectionId: string; jobId: string }) {
  return runAction((user) => ops.descriptionsStatus(user, input));
}
