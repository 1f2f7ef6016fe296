"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

const saveInput = input({ teamId: id(), webhookUrl: ops.webhookUrlSchema(), webhookFormat: ops.webhookFormatSchema, emailApprovers: z.boolean() });
const rotateInput = input({ teamId: id() });

// The secret travels in this reply only (to the form's state), never in the page that re-renders.
export const saveNotificationSettingsAction = teamAction("admin", saveInput, async (ctx, parsed) => {
  const result = await ops.saveSettings(ctx, parsed);
  revalidatePath("/t/[slug]/settings", "page");
  return result;
});

export const rotateWebhookSecretAction = teamAction("admin", rotateInput, async (ctx) => {
  const result = await ops.rotateSecret(ctx);
  revalidatePath("/t/[slug]/settings", "page");
  return result;
});
