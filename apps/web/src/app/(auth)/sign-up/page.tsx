import Link from "next/link";
import { redirect } from "next/navigation";
import { SignUpForm } from "@/features/auth/sign-up-form";
import { SIGN_UP_CLOSED, SIGN_UP_NEEDS_INVITATION } from "@/features/auth/account-operations";
import { env } from "@/lib/env";
import { getSessionUser } from "@/lib/session";
import { safeCallbackUrl } from "@/lib/urls";

export const metadata = { title: "Create an account" };

export default async function SignUpPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; email?: string }> }) {
  const params = await searchParams;
  const callbackUrl = safeCallbackUrl(params.callbackUrl);
  if (await getSessionUser()) redirect(callbackUrl);
  // The invitation page sends people here with itself as the callback: that carries the token.
  const invitationToken = /^\/invite\/([A-Za-z0-9_-]{16,128})$/.exec(callbackUrl)?.[1];
  const mode = env().SIGNUP_MODE;
  if (mode === "closed" || (mode === "invite-only" && !invitationToken)) {
    return (
      <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
        <h1 className="text-lg font-semibold text-zinc-900">Sign-up is not open</h1>
        <p className="mt-2 text-sm text-zinc-500">{mode === "closed" ? SIGN_UP_CLOSED : SIGN_UP_NEEDS_INVITATION}</p>
        <Link href="/sign-in" className="mt-5 block text-sm font-medium text-brand-600">Sign in</Link>
      </div>
    );
  }
  return <SignUpForm callbackUrl={callbackUrl} defaultEmail={typeof params.email === "string" ? params.email.slice(0, 254) : undefined} invitationToken={invitationToken} />;
}
