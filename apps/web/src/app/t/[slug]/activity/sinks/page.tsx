import Link from "next/link";
import { Card, CardHeader, EmptyState, PageHeader } from "@/components/ui";
import { listSinks } from "@/features/audit-export/operations";
import { AddSinkForm, SinkActions, SinkStatus } from "@/features/audit-export/sinks-panel";
import { VERIFY_SNIPPET } from "@/features/audit-export/verify-snippet";
import { can } from "@/lib/permissions";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Audit export" };
export const dynamic = "force-dynamic";

/**
 * Audit sinks: where the team's trail is streamed (signed webhook, JSON-lines files) and how far each
 * has got. Everyone who reads the whole team's Activity sees this page; only admins get the controls,
 * and the actions refuse anyone else on the server whatever the page shows.
 */
export default async function AuditSinksPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  const ctx = await requireTeamPage(slug, "activity:read-all");
  const sinks = await listSinks(ctx);
  const isAdmin = can(ctx.role, "admin");
  return (
    <>
      <PageHeader
        title="Audit export"
        description="Stream this team's audit trail, in chain order, to a SIEM. Each sink keeps a cursor and resumes where it stopped."
        actions={<Link href={`/t/${slug}/activity`} className="text-sm font-medium text-brand-600 hover:text-brand-700">← Activity</Link>}
      />
      <div className="space-y-6">
        {isAdmin ? (
          <Card>
            <CardHeader title="Add a sink" />
            <div className="p-5"><AddSinkForm teamId={ctx.team.id} /></div>
          </Card>
        ) : null}
        <Card>
          <CardHeader title="Sinks" />
          {sinks.length === 0 ? (
            <div className="p-5"><EmptyState title="No sinks" description="Nothing is streamed yet." /></div>
          ) : (
            <ul className="divide-y divide-zinc-100" aria-label="Audit sinks">
              {sinks.map((sink) => (
                <li key={sink.id} className="space-y-2 p-5" data-testid={`sink-${sink.name}`}>
                  <div className="flex flex-wrap items-baseline gap-2">
                    <span className="font-medium text-zinc-900">{sink.name}</span>
                    <span className="text-xs text-zinc-500">{sink.kind === "webhook" ? sink.url : "JSON-lines files"}</span>
                  </div>
                  <SinkStatus sink={sink} />
                  {isAdmin ? <SinkActions teamId={ctx.team.id} sink={sink} /> : null}
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card>
          <CardHeader title="Receiving" />
          <div className="space-y-2 p-5 text-sm text-zinc-700">
            <p>
              Webhooks receive a POST whose body is a JSON array of events in seq order, with <code>Portcullis-Signature: t=…,v1=…</code> (HMAC-SHA256 of <code>{"<t>.<raw body>"}</code> with the sink's secret) and <code>Idempotency-Key: &lt;sink&gt;:&lt;first seq&gt;-&lt;last seq&gt;</code>.
              Delivery is at least once: a retried batch may arrive twice, so keep the last seq you stored.
              Each event carries <code>seq</code>, <code>hash</code> and <code>prev_hash</code>: each prev_hash is the previous event's hash.
            </p>
            <pre className="overflow-x-auto rounded bg-zinc-50 p-3 text-xs ring-1 ring-zinc-200">{VERIFY_SNIPPET}</pre>
            <p>Or pull: <code>GET /t/{slug}/activity/export/cursor?after=&lt;seq&gt;</code> returns JSON lines and <code>Portcullis-Next-Cursor</code>.</p>
          </div>
        </Card>
      </div>
    </>
  );
}
