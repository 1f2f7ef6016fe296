import type { AuditRow } from "./operations";

/**
 * "name version · revision", e.g. "claude-code 2.1.0 · 2026-07-28". Every part is what the client said
 * about itself (initialize in the 2025 revisions, each request's _meta in 2026-07-28): shown to help a
 * lead read the trail, never a basis for a decision. Null when the event names neither.
 */
export function clientLabel(row: Pick<AuditRow, "client_name" | "client_version" | "protocol_version">): string | null {
  const client = row.client_name ? `${row.client_name}${row.client_version ? ` ${row.client_version}` : ""}` : null;
  const revision = row.protocol_version ? revisionLabel(row.protocol_version) : null;
  if (client && revision) return `${client} · ${revision}`;
  return client ?? revision;
}

/** The dashboard's own Playground is not an MCP revision: say what it is. */
export function revisionLabel(revision: string): string {
  return revision === "playground" ? "Playground" : revision;
}

/** The per-row line under the statement in the Activity table. */
export function ClientLine({ row }: { row: Pick<AuditRow, "client_name" | "client_version" | "protocol_version"> }) {
  const label = clientLabel(row);
  if (!label) return null;
  return (
    <span className="block truncate text-[11px] text-zinc-400" data-testid="event-client" title="As reported by the client">
      {label}
    </span>
  );
}
