import type { AuditRow } from "./operations";

export const EXPORT_COLUMNS = [
  "id", "time", "verdict", "tool", "sql", "rule_id", "reason", "duration_ms", "rows", "bytes", "error",
  "link_id", "api_key_id", "oauth_client_id", "user_id", "client_name", "client_version", "tables", "source_ip", "kind", "detail",
  "protocol_version", "trace_id", "database_name", "target_server",
] as const;

export function exportRecord(row: AuditRow): Record<(typeof EXPORT_COLUMNS)[number], unknown> {
  return {
    id: row.id,
    time: row.time.toISOString(),
    verdict: row.verdict,
    tool: row.tool,
    sql: row.sql,
    rule_id: row.rule_id,
    reason: row.reason,
    duration_ms: row.duration_ms,
    rows: row.rows,
    bytes: row.bytes,
    error: row.error,
    link_id: row.link_id,
    api_key_id: row.api_key_id,
    oauth_client_id: row.oauth_client_id,
    user_id: row.user_id,
    client_name: row.client_name,
    client_version: row.client_version,
    tables: row.tables,
    source_ip: row.source_ip,
    // Appended last so existing CSV consumers keep their column positions.
    kind: row.kind,
    detail: row.detail,
    protocol_version: row.protocol_version,
    trace_id: row.trace_id,
    database_name: row.database_name ?? null,
    target_server: row.target_server ?? null,
  };
}

/**
 * RFC 4180 quoting, plus a leading apostrophe for cells that a spreadsheet would run as a formula
 * (=, +, -, @): SQL text written by an AI is attacker-influenced input.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let s = Array.isArray(value) ? value.join(" ") : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(row: AuditRow): string {
  const record = exportRecord(row);
  return EXPORT_COLUMNS.map((c) => csvCell(record[c])).join(",") + "\r\n";
}

export function jsonLine(row: AuditRow): string {
  return JSON.stringify(exportRecord(row)) + "\n";
}
