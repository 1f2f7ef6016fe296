import { redirect } from "next/navigation";
import { listMyTeams } from "@/features/teams/operations";
import { getSessionUser } from "@/lib/session";

export default async function Home() {
  const user = await getSessionUser();
  if (!user) redirect("/sign-in");
  const teams = await listMyTeams(user);
  redirect(teams[0] ? `/t/${teams[0].team.slug}` : "/onboarding");
}
