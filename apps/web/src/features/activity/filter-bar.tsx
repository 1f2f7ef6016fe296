import { AUDIT_PROTOCOL_REVISIONS } from "@portcullis/jobs";
import { Button, ButtonLink, Input, Select } from "../../components/ui";
import { revisionLabel } from "./client-label";
import type { ActivityFilters } from "./filters";

export function FilterBar({
  slug,
  filters,
  lookups,
}: {
  slug: string;
  filters: ActivityFilters;
  lookups: { links: { id: string; name: string }[]; keys: { id: string; name: string; prefix: string }[]; members: { id: string; label: string }[]; clients: string[]; tools: string[]; canSeeEveryone: boolean; servers?: string[] };
}) {
  const sel = "!w-auto min-w-32 py-1 text-xs";
  return (
    <form method="get" action={`/t/${slug}/activity`} className="flex flex-wrap items-end gap-2 rounded-lg bg-white p-3 ring-1 ring-zinc-200" role="search" aria-label="Filter activity">
      <div className="min-w-56 flex-1">
        <label htmlFor="f-q" className="mb-1 block text-xs font-medium text-zinc-600">SQL contains</label>
        <Input id="f-q" name="q" defaultValue={filters.q} placeholder="e.g. customer" className="py-1 text-xs" />
      </div>
      <FilterSelect id="f-kind" name="kind" label="Kind" value={filters.kind} className={sel} options={KIND_OPTIONS} />
      <FilterSelect id="f-verdict" name="verdict" label="Verdict" value={filters.verdict} className={sel} options={[["allowed", "Allowed"], ["blocked", "Blocked"], ["error", "Error"]]} />
      <FilterSelect id="f-link" name="link" label="Link" value={filters.link} className={sel} options={lookups.links.map((l) => [l.id, l.name])} />
      <FilterSelect id="f-key" name="key" label="Key" value={filters.key} className={sel} options={lookups.keys.map((k) => [k.id, `${k.name} (${k.prefix})`])} />
      {lookups.canSeeEveryone ? <FilterSelect id="f-member" name="member" label="Member" value={filters.member} className={sel} options={lookups.members.map((m) => [m.id, m.label])} /> : null}
      <FilterSelect id="f-client" name="client" label="Client" value={filters.client} className={sel} options={lookups.clients.map((c) => [c, c])} />
      <FilterSelect id="f-tool" name="tool" label="Tool" value={filters.tool} className={sel} options={lookups.tools.map((t) => [t, t])} />
      {lookups.servers?.length ? <FilterSelect id="f-server" name="server" label="Server" value={filters.server} className={sel} options={lookups.servers.map((s) => [s, s])} /> : null}
      <FilterSelect id="f-revision" name="revision" label="MCP revision" value={filters.revision} className={sel} options={AUDIT_PROTOCOL_REVISIONS.map((r) => [r, revisionLabel(r)])} />
      <div>
        <label htmlFor="f-range" className="mb-1 block text-xs font-medium text-zinc-600">Time</label>
        <Select id="f-range" name="range" defaultValue={filters.range} className={sel}>
          <option value="1h">Last hour</option>
          <option value="24h">Last 24 hours</option>
          <option value="7d">Last 7 days</option>
          <option value="30d">Last 30 days</option>
          <option value="90d">Last 90 days</option>
          <option value="custom">Custom (from/to)</option>
        </Select>
      </div>
      {filters.range === "custom" ? (
        <>
          <div>
            <label htmlFor="f-from" className="mb-1 block text-xs font-medium text-zinc-600">From (UTC)</label>
            <Input id="f-from" name="from" type="datetime-local" defaultValue={filters.from} className="py-1 text-xs" />
          </div>
          <div>
            <label htmlFor="f-to" className="mb-1 block text-xs font-medium text-zinc-600">To (UTC)</label>
            <Input id="f-to" name="to" type="datetime-local" defaultValue={filters.to} className="py-1 text-xs" />
          </div>
        </>
      ) : null}
      <div className="flex gap-1">
        <Button type="submit" className="py-1 text-xs">Apply</Button>
        <ButtonLink href={`/t/${slug}/activity`} variant="ghost" className="py-1 text-xs">Reset</ButtonLink>
      </div>
    </form>
  );
}

const KIND_OPTIONS: [string, string][] = [
  ["tool_call", "Tool calls"],
  ["request_refused", "Refused requests"],
  ["config_change", "Configuration changes"],
  ["oauth_grant", "OAuth grants"],
  ["oauth_refresh", "OAuth refreshes"],
  ["oauth_revoke", "OAuth revocations"],
  ["oauth_refused", "OAuth refusals"],
  ["chain_break", "Audit chain breaks"],
];

function FilterSelect({ id, name, label, value, options, className }: { id: string; name: string; label: string; value?: string; options: [string, string][]; className: string }) {
  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-xs font-medium text-zinc-600">{label}</label>
      <Select id={id} name={name} defaultValue={value ?? ""} className={className}>
        <option value="">Any</option>
        {options.map(([v, l]) => (
          <option key={v} value={v}>{l}</option>
        ))}
      </Select>
    </div>
  );
}
