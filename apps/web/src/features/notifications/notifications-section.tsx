import { Badge, Card, CardHeader, formatDate, th, td } from "../../components/ui";
import type { TeamContext } from "../../lib/authz";
import { NotificationsForm } from "./notifications-form";
import { notificationSettingsView, recentDeliveries } from "./operations";

const STATUS_TONE = { delivered: "green", failed: "red", pending: "amber" } as const;

/** Settings → Notifications (owners and admins): where approval notifications go, and what was sent. */
export async function NotificationsSection({ ctx }: { ctx: TeamContext }) {
  const [settings, deliveries] = await Promise.all([notificationSettingsView(ctx), recentDeliveries(ctx)]);
  return (
    <Card data-testid="notifications-section">
      <CardHeader title="Notifications" description="Who hears about write requests and access requests: a signed webhook (Portcullis JSON or Slack) and e-mail to each link's approvers." />
      <div className="border-b border-zinc-100 p-5">
        <NotificationsForm teamId={ctx.team.id} settings={settings} />
      </div>
      <div className="px-5 py-3">
        <h3 className="mb-2 text-xs font-medium uppercase tracking-wide text-zinc-500">Recent deliveries</h3>
        {deliveries.length === 0 ? (
          <p className="text-sm text-zinc-500">Nothing sent yet.</p>
        ) : (
          <div className="overflow-x-auto">
            <table className="min-w-full divide-y divide-zinc-200 text-sm" data-testid="delivery-log">
              <thead>
                <tr><th className={th}>When</th><th className={th}>Event</th><th className={th}>Channel</th><th className={th}>Target</th><th className={th}>Status</th><th className={th}>Attempts</th><th className={th}>Last error</th></tr>
              </thead>
              <tbody className="divide-y divide-zinc-100">
                {deliveries.map((d) => (
                  <tr key={d.id}>
                    <td className={td}>{formatDate(d.createdAt)}</td>
                    <td className={td}><code className="text-xs">{d.event}</code></td>
                    <td className={td}>{d.channel}</td>
                    <td className={`${td} max-w-xs truncate`} title={d.target}>{d.target}</td>
                    <td className={td}><Badge tone={STATUS_TONE[d.status as keyof typeof STATUS_TONE] ?? "zinc"}>{d.status}</Badge>{d.responseStatus ? <span className="ml-1 text-xs text-zinc-500">HTTP {d.responseStatus}</span> : null}</td>
                    <td className={`${td} tabular-nums`}>{d.attempts}</td>
                    <td className={`${td} max-w-xs truncate text-xs text-red-700`} title={d.lastError ?? undefined}>{d.lastError ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </Card>
  );
}
