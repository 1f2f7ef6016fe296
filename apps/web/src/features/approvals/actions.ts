"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import { decideRequest } from "./decisions";
import { decideGrant, endGrant } from "./grant-decisions";

const comment = z.string().trim().max(2000, "keep the comment under 2,000 characters").optional();

// A rejection tells the requester (and the model) why; an approval may go without words.
const decideInput = input({ teamId: id(), requestId: id(), decision: z.enum(["approve", "reject"]), comment }).refine(
  (v) => v.decision !== "reject" || (v.comment ?? "").length > 0,
  { path: ["comment"], message: "say why you reject it (the requester reads this)" },
);

const grantInput = input({ teamId: id(), grantId: id(), decision: z.enum(["grant", "refuse"]), comment }).refine(
  (v) => v.decision !== "refuse" || (v.comment ?? "").length > 0,
  { path: ["comment"], message: "say why you refuse it (the requester reads this)" },
);
const endInput = input({ teamId: id(), grantId: id() });

function refresh() {
  // The nav badge counts open requests: the layout re-renders with the page.
  revalidatePath("/t/[slug]", "layout");
}

// Members decide only where they are approvers (or confirm their own): the operation checks.
export const decideWriteRequestAction = teamAction("member", decideInput, async (ctx, parsed) => {
  try {
    return await decideRequest(ctx, parsed);
  } finally {
    refresh();
  }
});

export const decideAccessRequestAction = teamAction("member", grantInput, async (ctx, parsed) => {
  try {
    return await decideGrant(ctx, parsed);
  } finally {
    refresh();
  }
});

// Ends a grant before its time (approvers only; the operation checks).
export const endAccessGrantAction = teamAction("member", endInput, async (ctx, parsed) => {
  try {
    return await endGrant(ctx, parsed);
  } finally {
    refresh();
  }
});
