"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction } from "../../lib/action";
import * as ops from "./operations";

const text = (max: number) => z.string().max(max);

export const addIdentityProviderAction = teamAction(
  "admin",
  input({
    teamId: id(),
    name: text(100),
    issuer: text(2000),
    jwksUri: text(2000).optional(),
    jwks: text(64_000).optional(),
    allowedClientIds: z.array(text(2048)).max(20),
  }),
  async (ctx, { teamId: _teamId, ...provider }) => {
    const result = await ops.addTeamIdentityProvider(ctx, provider);
    revalidatePath("/t/[slug]/settings", "page");
    return { id: result.id };
  },
);

export const removeIdentityProviderAction = teamAction("admin", input({ teamId: id(), providerId: id() }), async (ctx, { providerId }) => {
  const result = await ops.removeTeamIdentityProvider(ctx, providerId);
  revalidatePath("/t/[slug]/settings", "page");
  return result;
});
