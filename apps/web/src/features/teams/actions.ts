"use server";
import { revalidatePath } from "next/cache";
import type { Role } from "@portcullis/db/client";
import { runAction } from "../../lib/action";
import * as ops from "./operations";

export async function createTeamAction(input: { name: string }) {
  return runAction(async (user) => {
    const team = await ops.createTeamForUser(user, input);
    return { slug: team.slug };
  });
}

export async function inviteMemberAction(input: { teamId: string; email?: string | null; role: Role }) {
  return runAction(async (user) => {
    const result = await ops.inviteMember(user, input);
    revalidatePath("/t/[slug]/settings", "page");
    return result;
  });
}

export async function revokeInvitationAction(input: { teamId: string; invitationId: string }) {
  return runAction(async (user) => {
    await ops.revokeInvitation(user, input);
    revalidatePath("/t/[slug]/settings", "page");
  });
}

export async function acceptInvitationAction(token: string) {
  return runAction((user) => ops.acceptInvitation(user, token));
}

export async function changeMemberRoleAction(input: { teamId: string; userId: string; role: Role }) {
  return runAction(async (user) => {
    await ops.changeMemberRole(user, input);
    revalidatePath("/t/[slug]/settings", "page");
  });
}

export async function removeMemberAction(input: { teamId: string; userId: string }) {
  return runAction(async (user) => {
    await ops.removeMember(user, input);
    revalidatePath("/t/[slug]/settings", "page");
  });
}

export async function updateTeamSettingsAction(input: { teamId: string; name: string; auditRetentionDays: number }) {
  return runAction(async (user) => {
    await ops.updateTeamSettings(user, input);
    revalidatePath("/t/[slug]", "layout");
  });
}

export async function deleteTeamAction(input: { teamId: string; confirmSlug: string }) {
  return runAction((user) => ops.deleteTeam(user, input));
}
