"use client";
import { useState } from "react";
import { Alert, Button, Field, Input, Select, Textarea, th, td } from "../../components/ui";
import { PARAMETER_TYPES, type ParameterType, type SavedToolView, type ToolParameterDraft } from "./tool-shapes";

export interface SavedToolDraft {
  name: string;
  title: string;
  description: string;
  sql: string;
  parameters: ToolParameterDraft[];
  databaseName: string;
}

function draftOf(tool: SavedToolView | undefined, firstDatabase: string): SavedToolDraft {
  return {
    name: tool?.name ?? "",
    title: tool?.title ?? "",
    description: tool?.description ?? "",
    sql: tool?.sql ?? "",
    parameters: (tool?.parameters ?? []).map((p) => ({ name: p.name, type: p.type, description: p.description, required: p.required, default: p.default === undefined || p.default === null ? "" : String(p.default) })),
    databaseName: tool?.databaseName ?? firstDatabase,
  };
}

const EMPTY_PARAMETER: ToolParameterDraft = { name: "", type: "string", description: "", required: true, default: "" };

/**
 * A curated tool: what the AI sees (name, title, description, typed parameters) and the one statement
 * it runs with them bound as $1..$n. Save asks the server, which checks it against the database's scope
 * the way the gateway would and answers in the policy's words when the scope refuses it.
 */
export function SavedToolForm({
  tool,
  databases,
  onSave,
  onCancel,
}: {
  tool?: SavedToolView;
  /** The link's database names, first one first. */
  databases: string[];
  onSave: (draft: SavedToolDraft) => Promise<{ ok: true } | { ok: false; error: string; fieldErrors?: Record<string, string> }>;
  onCancel: () => void;
}) {
  const [draft, setDraft] = useState<SavedToolDraft>(() => draftOf(tool, databases[0] ?? ""));
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [pending, setPending] = useState(false);
  const set = (patch: Partial<SavedToolDraft>) => setDraft((d) => ({ ...d, ...patch }));
  const setParam = (i: number, patch: Partial<ToolParameterDraft>) => set({ parameters: draft.parameters.map((p, j) => (j === i ? { ...p, ...patch } : p)) });
  const prefix = tool ? `tool-${tool.id}` : "tool-new";

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    setFieldErrors({});
    const result = await onSave(draft);
    setPending(false);
    if (!result.ok) {
      setError(result.error);
      setFieldErrors(result.fieldErrors ?? {});
    }
  }

  return (
    <form onSubmit={save} className="space-y-4 rounded-md bg-zinc-50 p-4 ring-1 ring-zinc-200" noValidate data-testid="saved-tool-form">
      {error ? (
        <Alert title="Not saved">
          <p data-testid="saved-tool-error">{error}</p>
        </Alert>
      ) : null}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <Field label="Tool name" htmlFor={`${prefix}-name`} hint="What the AI calls: lower-case letters, digits and _, e.g. top_customers_by_country." error={fieldErrors.name}>
          <Input id={`${prefix}-name`} value={draft.name} onChange={(e) => set({ name: e.target.value })} required className="font-mono" />
        </Field>
        <Field label="Title" htmlFor={`${prefix}-title`} hint="Optional; shown by clients that display titles." error={fieldErrors.title}>
          <Input id={`${prefix}-title`} value={draft.title} onChange={(e) => set({ title: e.target.value })} />
        </Field>
      </div>
      <Field label="Description" htmlFor={`${prefix}-description`} hint="Tell the AI when to use this tool and what it returns." error={fieldErrors.description}>
        <Textarea id={`${prefix}-description`} rows={2} value={draft.description} onChange={(e) => set({ description: e.target.value })} className="font-sans text-sm" />
      </Field>
      <Field label="SQL" htmlFor={`${prefix}-sql`} hint="One statement; $1, $2, … are the parameters below, in order. Values are bound, never pasted into the SQL." error={fieldErrors.sql}>
        <Textarea id={`${prefix}-sql`} rows={5} value={draft.sql} spellCheck={false} onChange={(e) => set({ sql: e.target.value })} />
      </Field>
      <div>
        <p className="text-sm font-medium text-zinc-800">Parameters</p>
        {draft.parameters.length ? (
          <table className="mt-1 min-w-full text-sm" data-testid="tool-parameters">
            <thead>
              <tr>
                <th className={th}>#</th>
                <th className={th}>Name</th>
                <th className={th}>Type</th>
                <th className={th}>Description</th>
                <th className={th}>Required</th>
                <th className={th}>Default</th>
                <th className={th}><span className="sr-only">Remove</span></th>
              </tr>
            </thead>
            <tbody>
              {draft.parameters.map((p, i) => (
                <tr key={i}>
                  <td className={td}><code className="font-mono text-xs">${i + 1}</code></td>
                  <td className={td}><Input aria-label={`Parameter ${i + 1} name`} value={p.name} onChange={(e) => setParam(i, { name: e.target.value })} className="font-mono" /></td>
                  <td className={td}>
                    <Select aria-label={`Parameter ${i + 1} type`} value={p.type} onChange={(e) => setParam(i, { type: e.target.value as ParameterType })}>
                      {PARAMETER_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
                    </Select>
                  </td>
                  <td className={td}><Input aria-label={`Parameter ${i + 1} description`} value={p.description} onChange={(e) => setParam(i, { description: e.target.value })} /></td>
                  <td className={td}><input type="checkbox" aria-label={`Parameter ${i + 1} required`} checked={p.required} onChange={(e) => setParam(i, { required: e.target.checked })} /></td>
                  <td className={td}><Input aria-label={`Parameter ${i + 1} default`} value={p.default} onChange={(e) => setParam(i, { default: e.target.value })} disabled={p.required} /></td>
                  <td className={td}><Button variant="ghost" onClick={() => set({ parameters: draft.parameters.filter((_, j) => j !== i) })}>Remove</Button></td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="mt-1 text-xs text-zinc-500">No parameters: the statement runs as written.</p>
        )}
        {fieldErrors.parameters ? <p className="mt-1 text-xs text-red-600" role="alert">{fieldErrors.parameters}</p> : null}
        <Button variant="secondary" className="mt-2" onClick={() => set({ parameters: [...draft.parameters, { ...EMPTY_PARAMETER }] })} disabled={draft.parameters.length >= 20}>Add a parameter</Button>
      </div>
      {databases.length > 1 ? (
        <Field label="Runs on database" htmlFor={`${prefix}-database`} error={fieldErrors.databaseName}>
          <Select id={`${prefix}-database`} value={draft.databaseName} onChange={(e) => set({ databaseName: e.target.value })}>
            {databases.map((d) => <option key={d} value={d}>{d}</option>)}
          </Select>
        </Field>
      ) : null}
      <div className="flex justify-end gap-2">
        <Button variant="ghost" onClick={onCancel}>Cancel</Button>
        <Button type="submit" disabled={pending}>{pending ? "Checking…" : "Save tool"}</Button>
      </div>
    </form>
  );
}
