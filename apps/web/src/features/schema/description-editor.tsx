"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Button, Textarea, timeAgo } from "../../components/ui";
import { updateDescriptionAction } from "./actions";

export function DescriptionEditor({
  teamId,
  connectionId,
  schema,
  table,
  column,
  info,
  label,
}: {
  teamId: string;
  connectionId: string;
  schema: string;
  table: string;
  column: string;
  label: string;
  info?: { description: string; source: string; model: string | null; updatedAt: string; updatedBy: string | null };
}) {
  const router = useRouter();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(info?.description ?? "");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const who = info ? (info.source === "human" ? `Edited by ${info.updatedBy ?? "a teammate"}` : info.source === "ai" ? `AI${info.model ? ` (${info.model})` : ""}` : "Generated offline") : null;

  if (!editing) {
    return (
      <div className="group flex items-start gap-2">
        <button
          type="button"
          onClick={() => setEditing(true)}
          className="min-w-0 flex-1 rounded px-1 py-0.5 text-left text-sm text-zinc-700 hover:bg-zinc-100"
          aria-label={`Edit description of ${label}`}
        >
          {info?.description ?? <span className="italic text-zinc-400">No description yet — click to write one</span>}
        </button>
        {who ? <span className="shrink-0 text-[11px] text-zinc-400" title={info?.updatedAt}>{who} · {timeAgo(info!.updatedAt)}</span> : null}
      </div>
    );
  }
  async function save() {
    setPending(true);
    const result = await updateDescriptionAction({ teamId, connectionId, schema, table, column, description: text });
    setPending(false);
    if (!result.ok) return setError(result.error);
    setEditing(false);
    setError(undefined);
    router.refresh();
  }
  return (
    <div className="space-y-1">
      <label className="sr-only" htmlFor={`d-${schema}.${table}.${column}`}>Description of {label}</label>
      <Textarea
        id={`d-${schema}.${table}.${column}`}
        rows={2}
        value={text}
        autoFocus
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") setEditing(false);
          if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) void save();
        }}
        className="font-sans text-sm"
        aria-invalid={!!error}
      />
      {error ? <p className="text-xs text-red-600" role="alert">{error}</p> : null}
      <div className="flex gap-2">
        <Button className="py-1 text-xs" onClick={save} disabled={pending}>{pending ? "Saving…" : "Save"}</Button>
        <Button variant="ghost" className="py-1 text-xs" onClick={() => setEditing(false)}>Cancel</Button>
        <span className="self-center text-[11px] text-zinc-400">Ctrl+Enter saves · Esc cancels · human edits are never overwritten by AI</span>
      </div>
    </div>
  );
}
