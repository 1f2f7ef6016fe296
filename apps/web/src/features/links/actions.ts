"use server";
import { revalidatePath } from "next/cache";
import { runAction } from "../../lib/action";
import * as ops from "./operations";

export async function connectionTablesAction(input: { teamId: string; connectionId: string }) {
  return runAction((user) => ops.connectionTables(user, input.teamId, input.connectionId));
}

export async function validateScopeAction(scope: unknown) {
  return runAction(async () => ops.validateScopeDocument(scope));
}

export async function createLinkAction(input: { teamId: string; connectionId: string; name: string; scope: unknown }) {
  return runAction(async (user) => {
    const result = await ops.createLinkForTeam(user, input);
    revalidatePath("/t/[slug]/links", "page");
    return result;
  });
}

export async function updateLinkAction(input: { teamId: string; linkId: string; name?: string; scope?: unknown; status?: "active" | "disabled" }) {
  return runAction(async (user) => {
    await ops.updateLink(user, input);
    revalidatePath("/t/[slug]/links", "layout");
  });
}

export async function deleteLinkAction(input: { teamId: string; linkId: string }) {
  return runAction(async (user) => {
    await ops.deleteLink(user, input);
    revalidatePath("/t/[slug]/links", "page");
  });
}

export async function setLinkAccessAction(input: { teamId: string; linkId: string; userId: string; granted: boolean }) {
  return runAction(async (user) => {
    await ops.setLinkAccess(user, input);
    revalidatePath("/t/[slug]/links/[id]", "page");
  });
}
