"use server";
import { revalidatePath } from "next/cache";
import { revokeGrantForMember } from "@portcullis/oauth";
import { PortcullisError } from "@portcullis/db/errors";
import { id, input, userAction } from "../../lib/action";
import { getOAuthContext } from "./server";

/** The member's own revoke button: only their grants, any team (another's grant answers not found). */
export const revokeAuthorizedAppAction = userAction(input({ grantId: id() }), async (ctx, parsed) => {
  // revokeGrant records the revocation in the grant's team audit chain (kind oauth_revoke).
  const revoked = await revokeGrantForMember(getOAuthContext(), { grantId: parsed.grantId, userId: ctx.user.userId, sourceIp: ctx.sourceIp });
  if (!revoked) throw new PortcullisError("not_found", "that authorization no longer exists");
  revalidatePath("/t/[slug]/settings/authorized-apps", "page");
});
