"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction, userAction } from "../../lib/action";
import * as ops from "./operations";

/** A scope document is checked by policy's own parser; here it only has to be a JSON object. */
const scopeDocument = z.unknown().refine((v) => typeof v === "object" && v !== null && !Array.isArray(v), "a scope document is a JSON object");

const tablesInput = input({ teamId: id(), connectionId: id() });
const validateInput = input({ scope: z.unknown() });
const createInput = input({ teamId: id(), connectionId: id(), name: ops.linkNameSchema, scope: scopeDocument });
const updateInput = input({
  teamId: id(),
  linkId: id(),
  name: ops.linkNameSchema.optional(),
  scope: scopeDocument.optional(),
  status: z.enum(["active", "disabled"]).optional(),
});
const deleteInput = input({ teamId: id(), linkId: id() });
const accessInput = input({ teamId: id(), linkId: id(), userId: id(), granted: z.boolean() });

export const connectionTablesAction = teamAction("admin", tablesInput, (ctx, parsed) => ops.connectionTables(ctx, parsed));

export const validateScopeAction = userAction(validateInput, async (_ctx, parsed) => ops.validateScopeDocument(parsed.scope));

export const createLinkAction = teamAction("admin", createInput, async (ctx, parsed) => {
  const result = await ops.createLinkForTeam(ctx, parsed);
  revalidatePath("/t/[slug]/links", "page");
  return result;
});

export const updateLinkAction = teamAction("admin", updateInput, async (ctx, parsed) => {
  await ops.updateLink(ctx, parsed);
  revalidatePath("/t/[slug]/links", "layout");
});

export const deleteLinkAction = teamAction("admin", deleteInput, async (ctx, parsed) => {
  await ops.deleteLink(ctx, parsed);
  revalidatePath("/t/[slug]/links", "page");
});

export const setLinkAccessAction = teamAction("admin", accessInput, async (ctx, parsed) => {
  await ops.setLinkAccess(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
});
