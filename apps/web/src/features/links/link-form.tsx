"use client";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { Alert, Button, Field, Input, Select } from "../../components/ui";
import { connectionTablesAction, createLinkAction, updateLinkAction } from "./actions";
import type { TableInfo } from "./operations";
import { ReplayPanel, type ReplayVerdict } from "./replay-panel";
import { DEFAULT_SCOPE, ScopeEditor, type ScopeDoc } from "./scope-editor";

export function LinkForm({
  teamId,
  slug,
  connections,
  existing,
  members = [],
}: {
  teamId: string;
  slug: string;
  connections: { id: string; name: string; database: string }[];
  existing?: { id: string; name: string; connectionId: string; scope: ScopeDoc };
  /** Who may use the link: the row-filter preview runs as one of them. */
  members?: { id: string; label: string }[];
}) {
  const router = useRouter();
  const [name, setName] = useState(existing?.name ?? "");
  const [connectionId, setConnectionId] = useState(existing?.connectionId ?? connections[0]?.id ?? "");
  const [scope, setScope] = useState<ScopeDoc>(existing?.scope ?? DEFAULT_SCOPE);
  const [tables, setTables] = useState<TableInfo[] | null>(null);
  const [tablesError, setTablesError] = useState<string>();
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);
  const [pending, setPending] = useState(false);
  const [replay, setReplay] = useState<ReplayVerdict | null>(null);
  // A save makes the draft the baseline: the replay compared against the old one is dropped with it.
  const [saves, setSaves] = useState(0);
  // Only a replay of exactly this draft speaks for it; an edit since then says nothing either way.
  const blocks = replay && replay.scope === JSON.stringify(scope) ? replay.blockedCalls : 0;

  useEffect(() => {
    if (!connectionId) return;
    let cancelled = false;
    setLoading(true);
    setTablesError(undefined);
    connectionTablesAction({ teamId, connectionId }).then((result) => {
      if (cancelled) return;
      setLoading(false);
      if (result.ok) setTables(result.data);
      else setTablesError(result.error);
    });
    return () => {
      cancelled = true;
    };
  }, [teamId, connectionId]);

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    setFieldErrors({});
    setSaved(false);
    const result = existing
      ? await updateLinkAction({ teamId, linkId: existing.id, name, scope })
      : await createLinkAction({ teamId, connectionId, name, scope });
    setPending(false);
    if (!result.ok) {
      setError(result.error);
      setFieldErrors(result.fieldErrors ?? {});
      return;
    }
    if (existing) {
      setSaved(true);
      setReplay(null);
      setSaves((n) => n + 1);
      router.refresh();
    } else {
      router.push(`/t/${slug}/links/${(result.data as { id: string }).id}`);
    }
  }

  const scopeErrors = Object.entries(fieldErrors)
    .filter(([k]) => k.startsWith("scope."))
    .map(([k, message]) => ({ path: k.slice(6), message }));

  return (
    <form onSubmit={save} className="space-y-6" noValidate>
      {error && scopeErrors.length === 0 ? <Alert>{error}</Alert> : null}
      {saved ? <Alert tone="green">Saved. Gateways apply the new scope to the next call.</Alert> : null}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <Field label="Link name" htmlFor="link-name" hint="Shown in the AI client's server list, e.g. “analytics-read-only”." error={fieldErrors.name}>
          <Input id="link-name" value={name} onChange={(e) => setName(e.target.value)} required autoFocus={!existing} />
        </Field>
        <Field label="Connection" htmlFor="link-connection" hint={existing ? "A link stays bound to its connection." : undefined}>
          <Select id="link-connection" value={connectionId} onChange={(e) => setConnectionId(e.target.value)} disabled={!!existing}>
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
        governance={connectionId ? { teamId, connectionId, ...(existing ? { linkId: existing.id } : {}), members } : undefined}
      />
      {existing ? <ReplayPanel key={saves} teamId={teamId} linkId={existing.id} scope={scope} onResult={setReplay} /> : null}
      <div className="flex items-center justify-end gap-3 border-t border-zinc-200 pt-4">
        {blocks > 0 ? (
          <p className="text-sm text-red-700" data-testid="save-warning">
            This draft blocks {blocks.toLocaleString("en")} call{blocks === 1 ? "" : "s"} of the replay that pass today.
          </p>
        ) : null}
        <Button type="submit" disabled={pending || !connectionId}>
          {pending ? "Saving…" : existing ? (blocks > 0 ? "Save anyway" : "Save scope") : "Create link"}
        </Button>
      </div>
    </form>
  );
}
