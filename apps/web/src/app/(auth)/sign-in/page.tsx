import { redirect } from "next/navigation";
import { EXTERNAL_SIGN_IN_ERRORS } from "@/features/auth/oauth-link";
import { SignInForm } from "@/features/auth/sign-in-form";
import { oauthProviders } from "@/lib/auth";
import { getSessionUser } from "@/lib/session";
import { safeCallbackUrl } from "@/lib/urls";

export const metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; error?: string }> }) {
  const params = await searchParams;
  const callbackUrl = safeCallbackUrl(params.callbackUrl);
  if (await getSessionUser()) redirect(callbackUrl);
  // Only our own sentences: a free-text ?error= would let anyone put words on this page (phishing).
  const known: readonly string[] = Object.values(EXTERNAL_SIGN_IN_ERRORS);
  const error = !params.error || params.error === "SessionRequired" ? undefined : known.includes(params.error) ? params.error : "That sign-in did not work. Try again, or use your email and password.";
  return <SignInForm providers={oauthProviders()} callbackUrl={callbackUrl} initialError={error} />;
}
