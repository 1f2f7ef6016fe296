import { ApprovalsView } from "@/features/approvals/approvals-view";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Approvals" };

export default async function ApprovalsPage({ params, searchParams }: { params: Promise<{ slug: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { slug } = await params;
  const [ctx, query] = await Promise.all([requireTeamPage(slug), searchParams]);
  return <ApprovalsView ctx={ctx} slug={slug} query={query} />;
}
