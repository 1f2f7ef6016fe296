import Link from "next/link";
import { redirect } from "next/navigation";
import { parseAuthorizationRequest } from "@portcullis/oauth";
import { Logo } from "@/components/logo";
import { AuthorizationErrorScreen, ConsentScreen } from "@/features/oauth/consent";
import { buildConsentView } from "@/features/oauth/consent-data";
import { getOAuthContext } from "@/features/oauth/server";
import { getSessionUser } from "@/lib/session";

export const dynamic = "force-dynamic";
export const metadata = { title: "Authorize an application" };

type SearchParams = Record<string, string | string[] | undefined>;

function toParams(raw: SearchParams): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(raw)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) params.append(key, item);
  }
  return params;
}

/**
 * The authorization endpoint (GET). Signed-out members sign in first and come back here with the
 * request intact. Errors about the client or its redirect URI are shown here and never redirected
 * (that would make this an open redirector); every later error goes back to the client.
 */
export default async function AuthorizePage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const params = toParams(await searchParams);
  const user = await getSessionUser();
  if (!user) redirect(`/sign-in?callbackUrl=${encodeURIComponent(`/oauth/authorize?${params.toString()}`)}`);
  const ctx = getOAuthContext();
  const parsed = await parseAuthorizationRequest(ctx, params);
  let content: React.ReactNode;
  if (!parsed.ok) {
    if (parsed.redirectTo) redirect(parsed.redirectTo);
    content = <AuthorizationErrorScreen title="This sign-in request cannot be completed" message={parsed.error.description} />;
  } else {
    const { view, allowed } = await buildConsentView(ctx, { request: parsed.request, client: parsed.client, userId: user.userId });
    content = <ConsentScreen view={view} allowed={allowed} />;
  }
  return (
    <main className="flex min-h-screen flex-col items-center justify-center px-4 py-12">
      <Link href="/" className="mb-8 flex items-center gap-2 text-lg font-semibold tracking-tight text-zinc-900">
        <Logo />
        Portcullis
      </Link>
      <div className="w-full max-w-lg">{content}</div>
      <p className="mt-6 text-center text-xs text-zinc-500">Signed in as {user.email}</p>
    </main>
  );
}
