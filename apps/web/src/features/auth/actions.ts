"use server";
import { headers } from "next/headers";
import { runPublicAction } from "../../lib/action";
import { clientIp } from "../../lib/auth";
import { requestPasswordReset, resetPassword, signUp } from "./account-operations";

export async function signUpAction(input: { name?: string; email: string; password: string }) {
  const ip = clientIp(await headers());
  return runPublicAction(() => signUp(input, ip));
}

export async function requestPasswordResetAction(email: string) {
  const ip = clientIp(await headers());
  return runPublicAction(() => requestPasswordReset(email, ip));
}

export async function resetPasswordAction(token: string, password: string) {
  return runPublicAction(() => resetPassword(token, password));
}
