"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import * as grants from "./operations";

const comment = z.string().trim().max(2000, "keep the comment under 2,000 characters").optional();
// A refusal tells the member (and their AI client) why; a grant may go without words.
const decideInput = input({ teamId: id(), grantId: id(), decision: z.enum(["grant", "refuse"]), comment }).refine(
  (v) => v.decision !== "refuse" || (v.comment ?? "").length > 0,
  { path: ["comment"], message: "say why you refuse it (the member reads this)" },
);
const revokeInput = input({ teamId: id(), grantId: id() });

function refresh() {
  // The link page lists the grants and the team nav counts open requests: re-render both.
  revalidatePath("/t/[slug]", "layout");
}

// Members pass the wrapper only to be asked mayApprove by the operation (named approvers are members).
export const decideAccessGrantAction = teamAction("member", decideInput, async (ctx, parsed) => {
  try {
    return await grants.decideGrant(ctx, parsed);
  } finally {
    refresh();
  }
});

// A member may give up their own grant early; anyone else's is for the link's approvers (checked there).
export const revokeAccessGrantAction = teamAction("member", revokeInput, async (ctx, parsed) => {
  try {
    return await grants.revokeGrant(ctx, parsed);
  } finally {
    refresh();
  }
});
