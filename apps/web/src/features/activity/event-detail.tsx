import Link from "next/link";
import { Badge, formatDate } from "../../components/ui";
import { revisionLabel } from "./client-label";
import { configDiff } from "./config-diff";
import type { AuditRow } from "./operations";
import { SqlView } from "./sql-view";

export function VerdictBadge({ verdict }: { verdict: AuditRow["verdict"] }) {
  return verdict === "allowed" ? <Badge tone="green">Allowed</Badge> : verdict === "blocked" ? <Badge tone="red">Blocked</Badge> : <Badge tone="amber">Error</Badge>;
}

export function EventDetail({ event, closeHref, names }: { event: AuditRow; closeHref: string; names: { link?: string; key?: string; member?: string } }) {
  const rows: [string, React.ReactNode][] = [
    ["Time", formatDate(event.time).replace(" UTC", "") + ":" + event.time.toISOString().slice(17, 23) + " UTC"],
    ["Tool", event.tool ?? event.kind],
    ["Duration", `${event.duration_ms.toFixed(1)} ms`],
    ["Rows", event.rows ?? "—"],
    ["Bytes", event.bytes ?? "—"],
    ["Link", names.link ?? event.link_id ?? "—"],
    ["Key", names.key ?? event.api_key_id ?? (event.oauth_client_id ? `OAuth: ${event.oauth_client_id}` : "—")],
    ["Member", names.member ?? event.user_id ?? "—"],
    // Self-reported by the client (name, version and revision alike).
    ["Client", event.client_name ? `${event.client_name}${event.client_version ? ` ${event.client_version}` : ""}` : "—"],
    // Issue 17: which of the link's databases, and which server (primary or a replica) ran it.
    ["Database", event.database_name ? <span key="db" data-testid="event-database">{event.database_name}</span> : "—"],
    ["Server", event.target_server ? <span key="server" data-testid="event-server">{event.target_server === "primary" ? "primary" : `replica ${event.target_server}`}</span> : "—"],
    ["MCP revision", event.protocol_version ? revisionLabel(event.protocol_version) : "—"],
    ["Trace id", event.trace_id ? <code key="trace" className="font-mono text-[11px]" data-testid="event-trace-id">{event.trace_id}</code> : "—"],
    ["Tables", event.tables.length ? event.tables.join(", ") : "—"],
    ["Source IP", event.source_ip ?? "—"],
    ["Event id", <code key="id" className="font-mono text-[11px]">{event.id}</code>],
  ];
  return (
    <aside aria-label="Event detail" className="rounded-lg bg-white ring-1 ring-zinc-200" data-testid="event-detail">
      <div className="flex items-center justify-between border-b border-zinc-200 px-4 py-3">
        <div className="flex items-center gap-2">
          <VerdictBadge verdict={event.verdict} />
          <span className="text-sm font-medium">{event.tool ?? event.kind}</span>
        </div>
        <Link href={closeHref} className="rounded px-2 py-1 text-sm text-zinc-500 hover:bg-zinc-100" aria-label="Close detail">✕</Link>
      </div>
      <div className="space-y-4 p-4">
        {event.verdict === "blocked" ? (
          <div className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-200" data-testid="event-explanation">
            <p className="font-medium">Why it was blocked</p>
            <p className="mt-1 whitespace-pre-wrap">{event.reason ?? "No reason recorded."}</p>
            {event.rule_id ? <p className="mt-2 text-xs">Rule: <code className="font-mono">{event.rule_id}</code></p> : null}
          </div>
        ) : null}
        {event.error ? (
          <div className="rounded-md bg-amber-50 p-3 text-sm text-amber-900 ring-1 ring-amber-200">
            <p className="font-medium">Error</p>
            <p className="mt-1 whitespace-pre-wrap font-mono text-xs">{event.error}</p>
          </div>
        ) : null}
        {event.kind === "config_change" ? <ConfigChangeView detail={event.detail} /> : null}
        {event.kind === "chain_break" ? (
          <div className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-200" data-testid="chain-break">
            <p className="font-medium">Audit chain break</p>
            <p className="mt-1 whitespace-pre-wrap">{event.reason}</p>
          </div>
        ) : null}
        {event.sql ? (
          <div>
            <p className="mb-1 text-xs font-medium uppercase tracking-wide text-zinc-500">Statement</p>
            <SqlView sql={event.sql} />
          </div>
        ) : null}
        {event.rewritten_sql ? (
          <div>
            <p className="mb-1 text-xs font-medium uppercase tracking-wide text-zinc-500">Ran as (rewritten by the policy)</p>
            <SqlView sql={event.rewritten_sql} testId="event-rewritten-sql" />
            <p className="mt-1 text-xs text-zinc-500" data-testid="event-attribute-names">
              Row filters and masks were applied in SQL; $n after the caller&apos;s parameters are bound per call
              {event.attribute_names?.length ? <> — member attributes bound: {event.attribute_names.join(", ")}</> : null}.
            </p>
          </div>
        ) : null}
        <dl className="grid grid-cols-3 gap-x-3 gap-y-1.5 text-sm">
          {rows.map(([k, v]) => (
            <div key={k} className="contents">
              <dt className="text-zinc-500">{k}</dt>
              <dd className="col-span-2 break-words text-zinc-800">{v}</dd>
            </div>
          ))}
        </dl>
      </div>
    </aside>
  );
}

function ConfigChangeView({ detail }: { detail: string | null }) {
  const diff = configDiff(detail);
  if (!diff) return null;
  return (
    <div data-testid="config-change">
      <p className="mb-1 text-xs font-medium uppercase tracking-wide text-zinc-500">
        {diff.action} · {diff.target.type} {diff.target.name ?? diff.target.id}
        {diff.via ? ` · via ${diff.via}` : ""}
      </p>
      {diff.truncated ? <p className="text-xs text-zinc-500">The values were too large to record; only the change itself is recorded.</p> : null}
      {diff.rows.length ? (
        <table className="w-full table-fixed text-xs">
          <thead>
            <tr className="text-left text-zinc-500">
              <th className="w-1/3 py-1 font-medium">Field</th>
              <th className="w-1/3 py-1 font-medium">Before</th>
              <th className="w-1/3 py-1 font-medium">After</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-zinc-100 font-mono">
            {diff.rows.map((r) => (
              <tr key={r.path}>
                <td className="break-words py-1 pr-2 text-zinc-700">{r.path}</td>
                <td className="break-words py-1 pr-2 text-red-800">{r.before ?? "—"}</td>
                <td className="break-words py-1 text-emerald-800">{r.after ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : !diff.truncated ? (
        <p className="text-xs text-zinc-500">No field values changed.</p>
      ) : null}
    </div>
  );
}
