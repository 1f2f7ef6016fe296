"use server";
import { revalidatePath } from "next/cache";
import { revokeGrantForMember } from "@portcullis/oauth";
import { PortcullisError } from "@portcullis/db/errors";
import { runAction } from "@/lib/action";
import { getOAuthContext } from "./server";

/** The member's own revoke button: only their grants, any team (another's grant answers not found). */
export async function revokeAuthorizedAppAction(input: { grantId: string }) {
  return runAction(async (user) => {
    const revoked = await revokeGrantForMember(getOAuthContext(), { grantId: String(input.grantId), userId: user.userId });
    if (!revoked) throw new PortcullisError("not_found", "that authorization no longer exists");
    revalidatePath("/t/[slug]/settings/authorized-apps", "page");
  });
}
