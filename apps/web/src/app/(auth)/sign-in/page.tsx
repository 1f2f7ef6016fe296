import { redirect } from "next/navigation";
import { SignInForm } from "@/features/auth/sign-in-form";
import { oauthProviders } from "@/lib/auth";
import { getSessionUser } from "@/lib/session";
import { safeCallbackUrl } from "@/lib/urls";

export const metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; error?: string }> }) {
  const params = await searchParams;
  const callbackUrl = safeCallbackUrl(params.callbackUrl);
  if (await getSessionUser()) redirect(callbackUrl);
  const error = params.error && params.error !== "SessionRequired" ? (params.error === "OAuthAccountNotLinked" || params.error === "Callback" ? "That sign-in did not work. Try again, or use your email and password." : params.error) : undefined;
  return <SignInForm providers={oauthProviders()} callbackUrl={callbackUrl} initialError={error} />;
}
