import Link from "next/link";
import { Logo } from "@/components/logo";
import { Badge, Card, CardHeader, timeAgo } from "@/components/ui";
import { listSessions } from "@/features/account/operations";
import { RevokeOthersButton, RevokeSessionButton } from "@/features/account/session-buttons";
import { listMyTeams } from "@/features/teams/operations";
import { requirePageUser } from "@/lib/session";

export const metadata = { title: "Your account" };

function device(userAgent: string | null): string {
  if (!userAgent) return "Unknown device";
  const browser = /Edg\//.test(userAgent) ? "Edge" : /Chrome\//.test(userAgent) ? "Chrome" : /Firefox\//.test(userAgent) ? "Firefox" : /Safari\//.test(userAgent) ? "Safari" : "Browser";
  const os = /Windows/.test(userAgent) ? "Windows" : /Mac OS X/.test(userAgent) ? "macOS" : /Android/.test(userAgent) ? "Android" : /iPhone|iPad/.test(userAgent) ? "iOS" : /Linux/.test(userAgent) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

export default async function AccountPage() {
  const user = await requirePageUser();
  const [sessions, teams] = await Promise.all([listSessions(user), listMyTeams(user)]);
  return (
    <main className="mx-auto max-w-3xl px-4 py-10">
      <Link href="/" className="mb-8 flex items-center gap-2 text-sm font-semibold"><Logo className="h-6 w-6" /> Portcullis</Link>
      <h1 className="text-xl font-semibold tracking-tight">Your account</h1>
      <p className="mt-1 text-sm text-zinc-500">{user.name ? `${user.name} · ` : ""}{user.email}</p>
      <div className="mt-6 space-y-6">
        <Card>
          <CardHeader title="Teams" />
          <ul className="divide-y divide-zinc-100">
            {teams.map((m) => (
              <li key={m.team.id} className="flex items-center justify-between px-5 py-3 text-sm">
                <Link href={`/t/${m.team.slug}`} className="font-medium hover:text-brand-700">{m.team.name}</Link>
                <Badge>{m.role}</Badge>
              </li>
            ))}
            <li className="px-5 py-3 text-sm"><Link href="/onboarding" className="text-brand-600">+ Create a team</Link></li>
          </ul>
        </Card>
        <Card>
          <CardHeader title="Signed-in sessions" description="Every browser signed in to your account. Signing one out takes effect on its next request." actions={<RevokeOthersButton />} />
          <ul className="divide-y divide-zinc-100">
            {sessions.map((s) => (
              <li key={s.id} className="flex items-center justify-between gap-3 px-5 py-3 text-sm">
                <div>
                  <p className="font-medium text-zinc-900">
                    {device(s.userAgent)} {s.id === user.sessionId ? <Badge tone="green">This browser</Badge> : null}
                  </p>
                  <p className="text-xs text-zinc-500">{s.ip ?? "unknown address"} · signed in {timeAgo(s.createdAt)} · last seen {timeAgo(s.lastSeenAt)}</p>
                </div>
                {s.id !== user.sessionId ? <RevokeSessionButton sessionId={s.id} /> : null}
              </li>
            ))}
          </ul>
        </Card>
        <p className="text-sm text-zinc-500">
          Forgot your password or want to change it? <Link href="/forgot-password" className="text-brand-600">Send yourself a reset link</Link>; it also signs out every other session.
        </p>
      </div>
    </main>
  );
}
