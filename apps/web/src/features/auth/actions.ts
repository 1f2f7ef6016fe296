"use server";
import { headers } from "next/headers";
import { z } from "zod";
import { input, publicAction } from "../../lib/action";
import { clientIp } from "../../lib/auth";
import { passwordSchema, requestPasswordReset, resetPassword, signUp, signUpSchema } from "./account-operations";

// Signed-out actions: every input parsed whole by a strict schema before anything runs.
export const signUpAction = publicAction(signUpSchema, async (parsed) => signUp(parsed, clientIp(await headers())));

export const requestPasswordResetAction = publicAction(input({ email: z.string().trim().max(254) }), async (parsed) =>
  requestPasswordReset(parsed.email, clientIp(await headers())),
);

export const resetPasswordAction = publicAction(input({ token: z.string().min(1).max(256), password: passwordSchema }), async (parsed) =>
  resetPassword(parsed.token, parsed.password),
);
