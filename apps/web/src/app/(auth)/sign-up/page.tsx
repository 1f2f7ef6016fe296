import { redirect } from "next/navigation";
import { SignUpForm } from "@/features/auth/sign-up-form";
import { getSessionUser } from "@/lib/session";
import { safeCallbackUrl } from "@/lib/urls";

export const metadata = { title: "Create an account" };

export default async function SignUpPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; email?: string }> }) {
  const params = await searchParams;
  const callbackUrl = safeCallbackUrl(params.callbackUrl);
  if (await getSessionUser()) redirect(callbackUrl);
  return <SignUpForm callbackUrl={callbackUrl} defaultEmail={params.email} />;
}
