import Link from "next/link";
import { Logo } from "@/components/logo";
import { ButtonLink } from "@/components/ui";
import { AcceptInvitationButton } from "@/features/teams/accept-invitation";
import { findInvitation } from "@/features/teams/operations";
import { getSessionUser } from "@/lib/session";

export const metadata = { title: "Invitation" };

export default async function InvitePage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = await params;
  const [invitation, user] = await Promise.all([findInvitation(token), getSessionUser()]);
  const here = `/invite/${token}`;
  return (
    <main className="flex min-h-screen flex-col items-center justify-center px-4">
      <div className="mb-8 flex items-center gap-2 text-lg font-semibold"><Logo /> Portcullis</div>
      <div className="w-full max-w-sm rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
        {!invitation ? (
          <>
            <h1 className="text-lg font-semibold">This invitation is no longer valid</h1>
            <p className="mt-2 text-sm text-zinc-500">It expired, was revoked, or was already used. Ask whoever invited you for a new one.</p>
            <Link href="/" className="mt-5 block text-sm font-medium text-brand-600">Go to the dashboard</Link>
          </>
        ) : (
          <>
            <h1 className="text-lg font-semibold">Join {invitation.team.name}</h1>
            <p className="mb-5 mt-2 text-sm text-zinc-500">
              {invitation.invitedBy.name ?? invitation.invitedBy.email} invited you as <strong className="text-zinc-800">{invitation.role}</strong>
              {invitation.email ? <> ({invitation.email})</> : null}.
            </p>
            {user ? (
              <>
                <p className="mb-3 text-xs text-zinc-500">Signed in as {user.email}</p>
                <AcceptInvitationButton token={token} />
              </>
            ) : (
              <div className="space-y-2">
                <ButtonLink className="w-full" href={`/sign-up?callbackUrl=${encodeURIComponent(here)}${invitation.email ? `&email=${encodeURIComponent(invitation.email)}` : ""}`}>
                  Create an account to join
                </ButtonLink>
                <ButtonLink variant="secondary" className="w-full" href={`/sign-in?callbackUrl=${encodeURIComponent(here)}`}>
                  I already have an account
                </ButtonLink>
              </div>
            )}
          </>
        )}
      </div>
    </main>
  );
}
