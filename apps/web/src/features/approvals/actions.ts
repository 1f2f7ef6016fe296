"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import { decideRequest } from "./decisions";

const comment = z.string().trim().max(2000, "keep the comment under 2,000 characters").optional();

// A rejection tells the requester (and the model) why; an approval may go without words.
const decideInput = input({ teamId: id(), requestId: id(), decision: z.enum(["approve", "reject"]), comment }).refine(
  (v) => v.decision !== "reject" || (v.comment ?? "").length > 0,
  { path: ["comment"], message: "say why you reject it (the requester reads this)" },
);

function refresh() {
  // The nav badge counts open requests: the layout re-renders with the page.
  revalidatePath("/t/[slug]", "layout");
}

// Access requests are decided with features/access-grants (the link page's actions): one operation each.
// Members decide only where they are approvers (or confirm their own): the operation checks.
export const decideWriteRequestAction = teamAction("member", decideInput, async (ctx, parsed) => {
  try {
    return await decideRequest(ctx, parsed);
  } finally {
    refresh();
  }
});

