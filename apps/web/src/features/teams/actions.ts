"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction, userAction } from "../../lib/action";
import { roleSchema } from "../../lib/authz";
import * as ops from "./operations";

const email = z.string().trim().max(320).pipe(z.email("enter a valid email address"));

const createInput = input({ name: ops.teamNameSchema });
// An empty email field means "a shareable link".
const inviteInput = input({ teamId: id(), email: z.union([z.literal(""), email]).nullish().transform((v) => v || null), role: roleSchema });
const revokeInvitationInput = input({ teamId: id(), invitationId: id() });
const acceptInput = input({ token: z.string().min(1).max(200) });
const roleInput = input({ teamId: id(), userId: id(), role: roleSchema });
const removeInput = input({ teamId: id(), userId: id() });
const settingsInput = input({ teamId: id(), name: ops.teamNameSchema, auditRetentionDays: ops.retentionDaysSchema });
const deleteInput = input({ teamId: id(), confirmSlug: z.string().max(100) });

export const createTeamAction = userAction(createInput, async (ctx, parsed) => {
  const team = await ops.createTeamForUser(ctx.user, parsed);
  return { slug: team.slug };
});

export const inviteMemberAction = teamAction("admin", inviteInput, async (ctx, parsed) => {
  const result = await ops.inviteMember(ctx, parsed);
  revalidatePath("/t/[slug]/settings", "page");
  return result;
});

export const revokeInvitationAction = teamAction("admin", revokeInvitationInput, async (ctx, parsed) => {
  await ops.revokeInvitation(ctx, parsed);
  revalidatePath("/t/[slug]/settings", "page");
});

export const acceptInvitationAction = userAction(acceptInput, (ctx, parsed) => ops.acceptInvitation(ctx.user, parsed));

export const changeMemberRoleAction = teamAction("admin", roleInput, async (ctx, parsed) => {
  await ops.changeMemberRole(ctx, parsed);
  revalidatePath("/t/[slug]/settings", "page");
});

// Anyone may leave a team; removing someone else needs admin (checked by the operation).
export const removeMemberAction = teamAction("viewer", removeInput, async (ctx, parsed) => {
  await ops.removeMember(ctx, parsed);
  revalidatePath("/t/[slug]/settings", "page");
});

export const updateTeamSettingsAction = teamAction("admin", settingsInput, async (ctx, parsed) => {
  await ops.updateTeamSettings(ctx, parsed);
  revalidatePath("/t/[slug]", "layout");
});

export const deleteTeamAction = teamAction("owner", deleteInput, (ctx, parsed) => ops.deleteTeam(ctx, parsed));
