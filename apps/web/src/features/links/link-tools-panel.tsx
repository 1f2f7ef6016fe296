"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ConfirmButton } from "../../components/confirm-button";
import { Alert, Badge, Button } from "../../components/ui";
import { deleteLinkToolAction, saveLinkToolAction, setLinkBuiltInToolsAction } from "./actions";
import { SavedToolForm, type SavedToolDraft } from "./saved-tool-form";
import { SavedToolTry } from "./saved-tool-try";
import { BUILT_IN_TOOLS, isBuiltInToolName, typedValue, type SavedToolView } from "./tool-shapes";

/** A default as its parameter's JSON type; text that is not of the type goes as typed, for the server to refuse in words. */
function typedDefault(type: SavedToolDraft["parameters"][number]["type"], text: string) {
  const typed = typedValue(type, text);
  return typed.ok ? typed.value : text;
}

/** A draft as the save action takes it: defaults only where given, typed by the server. */
function toInput(draft: SavedToolDraft, firstDatabase: string) {
  return {
    name: draft.name.trim(),
    title: draft.title.trim() || null,
    description: draft.description.trim(),
    sql: draft.sql,
    parameters: draft.parameters.map((p) => ({
      name: p.name.trim(),
      type: p.type,
      description: p.description.trim(),
      required: p.required,
      ...(!p.required && p.default !== "" ? { default: typedDefault(p.type, p.default) } : {}),
    })),
    // The first database is the default: stored as null so renaming it does not orphan the tool.
    databaseName: draft.databaseName && draft.databaseName !== firstDatabase ? draft.databaseName : null,
  };
}

/**
 * The Tools tab: which built-in tools the link offers, and its curated tools (saved, parameterised
 * statements listed to AI clients under their own names).
 */
export function LinkToolsPanel({
  teamId,
  linkId,
  disabledTools,
  tools,
  databases,
  isAdmin,
  linkActive,
}: {
  teamId: string;
  linkId: string;
  disabledTools: string[];
  tools: SavedToolView[];
  databases: string[];
  isAdmin: boolean;
  linkActive: boolean;
}) {
  const router = useRouter();
  const [disabled, setDisabled] = useState(() => new Set(disabledTools));
  const [editing, setEditing] = useState<string | null>(null);
  const [trying, setTrying] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const first = databases[0] ?? "";

  async function toggle(name: string, on: boolean) {
    const next = new Set(disabled);
    if (on) next.delete(name);
    else next.add(name);
    const previous = disabled;
    setError(undefined);
    // The switch moves at once; a refused change puts it back and says why.
    setDisabled(next);
    const result = await setLinkBuiltInToolsAction({ teamId, linkId, disabledTools: [...next].filter(isBuiltInToolName).sort() });
    if (!result.ok) {
      setDisabled(previous);
      return setError(result.error);
    }
    setNotice(`${name} is ${on ? "offered" : "no longer offered"} to AI clients.`);
    router.refresh();
  }

  async function save(tool: SavedToolView | undefined, draft: SavedToolDraft) {
    const result = await saveLinkToolAction({ teamId, linkId, ...(tool ? { toolId: tool.id } : {}), ...toInput(draft, first) });
    if (!result.ok) return result;
    setEditing(null);
    setNotice(`Saved ${draft.name.trim()}. AI clients see it in tools/list from the next call.`);
    router.refresh();
    return { ok: true as const };
  }

  return (
    <div className="space-y-6">
      {error ? <Alert>{error}</Alert> : null}
      {notice ? <Alert tone="green">{notice}</Alert> : null}
      <section>
        <h3 className="text-sm font-semibold text-zinc-900">Built-in tools</h3>
        <p className="text-xs text-zinc-500">A tool turned off is not listed and is refused as unknown if called.</p>
        <ul className="mt-2 divide-y divide-zinc-100" data-testid="built-in-tools">
          {BUILT_IN_TOOLS.map((t) => {
            const on = !disabled.has(t.name);
            return (
              <li key={t.name} className="flex items-center justify-between gap-3 py-2">
                <div>
                  <code className="font-mono text-sm text-zinc-900">{t.name}</code>
                  <p className="text-xs text-zinc-500">{t.words}</p>
                </div>
                <label className="flex items-center gap-2 text-sm text-zinc-700">
                  <input type="checkbox" role="switch" aria-label={`Offer ${t.name}`} checked={on} disabled={!isAdmin} onChange={(e) => void toggle(t.name, e.target.checked)} />
                  {on ? "On" : "Off"}
                </label>
              </li>
            );
          })}
        </ul>
      </section>
      <section>
        <div className="flex items-center justify-between">
          <div>
            <h3 className="text-sm font-semibold text-zinc-900">Saved tools</h3>
            <p className="text-xs text-zinc-500">A saved statement with typed parameters, checked against the scope when saved and again on every call.</p>
          </div>
          {isAdmin && editing !== "new" ? <Button variant="secondary" onClick={() => { setEditing("new"); setNotice(undefined); }}>New tool</Button> : null}
        </div>
        {editing === "new" ? (
          <div className="mt-3">
            <SavedToolForm databases={databases} onSave={(d) => save(undefined, d)} onCancel={() => setEditing(null)} />
          </div>
        ) : null}
        {tools.length === 0 && editing !== "new" ? <p className="mt-3 text-sm text-zinc-500">No saved tools yet.</p> : null}
        <ul className="mt-2 divide-y divide-zinc-100">
          {tools.map((tool) => (
            <li key={tool.id} className="py-3" data-testid={`saved-tool-${tool.name}`}>
              <div className="flex flex-wrap items-start justify-between gap-3">
                <div className="min-w-0">
                  <div className="flex items-center gap-2">
                    <code className="font-mono text-sm font-semibold text-zinc-900">{tool.name}</code>
                    {tool.title ? <span className="text-sm text-zinc-600">{tool.title}</span> : null}
                    {databases.length > 1 ? <Badge>{tool.databaseName ?? first}</Badge> : null}
                  </div>
                  <p className="text-sm text-zinc-600">{tool.description}</p>
                  <pre className="mt-1 overflow-x-auto rounded bg-zinc-50 px-2 py-1 font-mono text-xs text-zinc-700">{tool.sql}</pre>
                  {tool.parameters.length ? (
                    <p className="mt-1 text-xs text-zinc-500">{tool.parameters.map((p, i) => `$${i + 1} ${p.name}: ${p.type}${p.required ? "" : "?"}`).join(" · ")}</p>
                  ) : null}
                </div>
                <div className="flex items-center gap-2">
                  <Button variant="secondary" onClick={() => setTrying(trying === tool.id ? null : tool.id)} disabled={!linkActive}>Try it</Button>
                  {isAdmin ? (
                    <>
                      <Button variant="secondary" onClick={() => setEditing(editing === tool.id ? null : tool.id)}>Edit</Button>
                      <ConfirmButton
                        label="Delete"
                        size="sm"
                        title={`Delete the tool ${tool.name}?`}
                        description="AI clients no longer see it; calls by its name are refused as unknown."
                        onConfirm={async () => {
                          const result = await deleteLinkToolAction({ teamId, linkId, toolId: tool.id });
                          if (result.ok) router.refresh();
                          return result;
                        }}
                      />
                    </>
                  ) : null}
                </div>
              </div>
              {editing === tool.id ? (
                <div className="mt-3">
                  <SavedToolForm tool={tool} databases={databases} onSave={(d) => save(tool, d)} onCancel={() => setEditing(null)} />
                </div>
              ) : null}
              {trying === tool.id ? (
                <div className="mt-3">
                  <SavedToolTry teamId={teamId} linkId={linkId} tool={tool} />
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
