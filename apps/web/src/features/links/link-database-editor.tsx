"use client";
import { useState } from "react";
import { Alert, Button, Field, Input, Select } from "../../components/ui";
import { useConnectionTables } from "./connection-tables";
import { DEFAULT_SCOPE, ScopeEditor, type ScopeDoc } from "./scope-editor";

export interface DatabaseDraft {
  name: string;
  connectionId: string;
  scope: ScopeDoc;
}

/**
 * One further database of a link: its name, its connection (fixed once added) and its own scope,
 * edited with the same scope editor as the link's first database.
 */
export function LinkDatabaseEditor({
  teamId,
  connections,
  existing,
  onSave,
  onCancel,
}: {
  teamId: string;
  connections: { id: string; name: string; database: string }[];
  existing?: DatabaseDraft;
  onSave: (draft: DatabaseDraft) => Promise<{ ok: true } | { ok: false; error: string; fieldErrors?: Record<string, string> }>;
  onCancel: () => void;
}) {
  const [name, setName] = useState(existing?.name ?? "");
  const [connectionId, setConnectionId] = useState(existing?.connectionId ?? connections[0]?.id ?? "");
  const [scope, setScope] = useState<ScopeDoc>(existing?.scope ?? DEFAULT_SCOPE);
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [pending, setPending] = useState(false);
  const { tables, error: tablesError, loading } = useConnectionTables(teamId, connectionId);
  const idPrefix = existing ? `db-${existing.name}` : "db-new";

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    setFieldErrors({});
    const result = await onSave({ name: name.trim(), connectionId, scope });
    setPending(false);
    if (!result.ok) {
      setError(result.error);
      setFieldErrors(result.fieldErrors ?? {});
    }
  }

  const scopeErrors = Object.entries(fieldErrors)
    .filter(([k]) => k.startsWith("scope."))
    .map(([k, message]) => ({ path: k.slice(6), message }));

  return (
    <form onSubmit={save} className="space-y-4 rounded-md bg-zinc-50 p-4 ring-1 ring-zinc-200" noValidate data-testid={existing ? `database-editor-${existing.name}` : "database-editor-new"}>
      {error && scopeErrors.length === 0 ? <Alert>{error}</Alert> : null}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <Field label="Database name" htmlFor={`${idPrefix}-name`} hint="What AI clients pass as the tools' database argument: lower-case, e.g. “billing”." error={fieldErrors.name ?? fieldErrors.newName}>
          <Input id={`${idPrefix}-name`} value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <Field label="Connection of this database" htmlFor={`${idPrefix}-connection`} hint={existing ? "Remove and add it again to use another connection." : undefined} error={fieldErrors.connectionId}>
          <Select id={`${idPrefix}-connection`} value={connectionId} onChange={(e) => setConnectionId(e.target.value)} disabled={!!existing}>
            {connections.map((c) => (
              <option key={c.id} value={c.id}>{c.name} ({c.database})</option>
            ))}
          </Select>
        </Field>
      </div>
      <ScopeEditor
        value={scope}
        onChange={setScope}
        tables={tables}
        tablesError={tablesError}
        loadingTables={loading}
        errors={scopeErrors}
        // No linkId: the row-filter preview runs against the link's first database only.
        governance={connectionId ? { teamId, connectionId, members: [] } : undefined}
      />
      <div className="flex justify-end gap-2">
        <Button variant="ghost" onClick={onCancel}>Cancel</Button>
        <Button type="submit" disabled={pending || !connectionId}>{pending ? "Saving…" : existing ? "Save database" : "Add database"}</Button>
      </div>
    </form>
  );
}
