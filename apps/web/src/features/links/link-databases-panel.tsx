"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ConfirmButton } from "../../components/confirm-button";
import { Alert, Badge, Button, Input } from "../../components/ui";
import { addLinkDatabaseAction, removeLinkDatabaseAction, updateLinkDatabaseAction } from "./actions";
import { LinkDatabaseEditor, type DatabaseDraft } from "./link-database-editor";
import type { ScopeDoc } from "./scope-editor";

export interface LinkDatabaseView {
  name: string;
  connectionId: string;
  connectionName: string;
  database: string;
  summary: string;
  scope: ScopeDoc;
}

/**
 * The Databases tab: the link's first database (its own connection and scope; only its name is edited
 * here) and the further ones, each with its own scope. AI clients pick one with the tools' `database`.
 */
export function LinkDatabasesPanel({
  teamId,
  linkId,
  first,
  others,
  connections,
  isAdmin,
}: {
  teamId: string;
  linkId: string;
  first: LinkDatabaseView;
  others: LinkDatabaseView[];
  connections: { id: string; name: string; database: string }[];
  isAdmin: boolean;
}) {
  const router = useRouter();
  const [firstName, setFirstName] = useState(first.name);
  const [renaming, setRenaming] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();

  async function renameFirst() {
    setError(undefined);
    const result = await updateLinkDatabaseAction({ teamId, linkId, name: first.name, newName: firstName.trim() });
    if (!result.ok) return setError(result.error);
    setRenaming(false);
    setNotice(`The first database is now called “${firstName.trim()}”.`);
    router.refresh();
  }

  async function add(draft: DatabaseDraft) {
    const result = await addLinkDatabaseAction({ teamId, linkId, ...draft });
    if (!result.ok) return result;
    setAdding(false);
    setNotice(`Added “${draft.name}”. AI clients reach it with database: "${draft.name}".`);
    router.refresh();
    return { ok: true as const };
  }

  async function update(original: string, draft: DatabaseDraft) {
    const result = await updateLinkDatabaseAction({ teamId, linkId, name: original, ...(draft.name !== original ? { newName: draft.name } : {}), scope: draft.scope });
    if (!result.ok) return result;
    setEditing(null);
    setNotice(`Saved “${draft.name}”. Gateways apply it to the next call.`);
    router.refresh();
    return { ok: true as const };
  }

  const row = (db: LinkDatabaseView, primary: boolean) => (
    <li key={db.name} className="py-3" data-testid={`link-database-${db.name}`}>
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <div className="flex items-center gap-2">
            {primary && renaming ? (
              <Input aria-label="Name of the first database" value={firstName} onChange={(e) => setFirstName(e.target.value)} className="w-48" />
            ) : (
              <code className="font-mono text-sm font-semibold text-zinc-900">{db.name}</code>
            )}
            {primary ? <Badge tone="brand">first</Badge> : null}
          </div>
          <p className="mt-1 text-sm text-zinc-600">{db.connectionName} ({db.database})</p>
          <p className="text-xs text-zinc-500">{db.summary}</p>
        </div>
        {isAdmin ? (
          <div className="flex items-center gap-2">
            {primary ? (
              renaming ? (
                <>
                  <Button variant="ghost" onClick={() => { setRenaming(false); setFirstName(first.name); }}>Cancel</Button>
                  <Button onClick={renameFirst}>Save name</Button>
                </>
              ) : (
                <Button variant="secondary" onClick={() => setRenaming(true)}>Rename</Button>
              )
            ) : (
              <>
                <Button variant="secondary" onClick={() => setEditing(editing === db.name ? null : db.name)}>Edit scope</Button>
                <ConfirmButton
                  label="Remove"
                  size="sm"
                  title={`Remove “${db.name}” from this link?`}
                  description="AI clients can no longer reach it through this link; saved tools that use it stop working. The connection itself stays."
                  onConfirm={async () => {
                    const result = await removeLinkDatabaseAction({ teamId, linkId, name: db.name });
                    if (result.ok) router.refresh();
                    return result;
                  }}
                />
              </>
            )}
          </div>
        ) : null}
      </div>
      {primary ? <p className="mt-1 text-xs text-zinc-500">Its scope is the link&apos;s own, on the Scope tab.</p> : null}
      {!primary && editing === db.name ? (
        <div className="mt-3">
          <LinkDatabaseEditor teamId={teamId} connections={connections} existing={{ name: db.name, connectionId: db.connectionId, scope: db.scope }} onSave={(d) => update(db.name, d)} onCancel={() => setEditing(null)} />
        </div>
      ) : null}
    </li>
  );

  return (
    <div className="space-y-4">
      {error ? <Alert>{error}</Alert> : null}
      {notice ? <Alert tone="green">{notice}</Alert> : null}
      <ul className="divide-y divide-zinc-100">
        {row(first, true)}
        {others.map((db) => row(db, false))}
      </ul>
      {others.length === 0 ? (
        <p className="text-sm text-zinc-500">This link reaches one database. Add another to let the same key query it too, under its own scope.</p>
      ) : (
        <p className="text-sm text-zinc-500">Every tool takes an optional <code className="font-mono">database</code> argument; without it, the first database answers (get_schema, list_tables and search_objects cover all of them).</p>
      )}
      {isAdmin ? (
        adding ? (
          <LinkDatabaseEditor teamId={teamId} connections={connections} onSave={add} onCancel={() => setAdding(false)} />
        ) : (
          <Button variant="secondary" onClick={() => { setAdding(true); setNotice(undefined); }} disabled={connections.length === 0}>Add a database</Button>
        )
      ) : null}
    </div>
  );
}
