import Link from "next/link";
import { Logo } from "@/components/logo";
import { CreateTeamForm } from "@/features/teams/create-team-form";
import { listMyTeams } from "@/features/teams/operations";
import { requirePageUser } from "@/lib/session";

export const metadata = { title: "Create a team" };

export default async function OnboardingPage() {
  const user = await requirePageUser();
  const teams = await listMyTeams(user);
  return (
    <main className="flex min-h-screen flex-col items-center justify-center px-4">
      <div className="mb-8 flex items-center gap-2 text-lg font-semibold"><Logo /> Portcullis</div>
      <div className="w-full max-w-sm rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
        <h1 className="text-lg font-semibold">Create a team</h1>
        <p className="mb-5 mt-1 text-sm text-zinc-500">Connections, MCP links, keys and activity belong to a team. Invite your teammates once it exists.</p>
        <CreateTeamForm />
      </div>
      {teams.length > 0 ? (
        <p className="mt-6 text-sm text-zinc-500">
          Or go back to{" "}
          {teams.map((m, i) => (
            <span key={m.team.id}>
              {i > 0 ? ", " : ""}
              <Link className="font-medium text-brand-600" href={`/t/${m.team.slug}`}>{m.team.name}</Link>
            </span>
          ))}
        </p>
      ) : null}
    </main>
  );
}
