"use client";
import { useParams } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Field, Input } from "../../components/ui";
import type { PlaygroundResponse } from "../playground/operations";
import { PlaygroundAnswer } from "../playground/playground-answer";
import { tryLinkToolAction } from "./actions";
import type { SavedToolView } from "./tool-shapes";

/**
 * Calls a saved tool by its name through the gateway's Playground path, as the signed-in user, with the
 * values typed here: the tool's own input parse, its database, the policy, approvals, limits and an
 * audit event under its name, as an AI client's call of it.
 */
export function SavedToolTry({ teamId, linkId, tool }: { teamId: string; linkId: string; tool: SavedToolView }) {
  const slug = useParams<{ slug: string }>().slug;
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(tool.parameters.map((p) => [p.name, p.default === undefined || p.default === null ? "" : String(p.default)])));
  const [result, setResult] = useState<PlaygroundResponse>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  async function run(event: React.FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    // Empty optional inputs are left out: the tool's default (or NULL) applies, as for an AI client.
    const args = Object.fromEntries(Object.entries(values).filter(([name, v]) => v !== "" || tool.parameters.find((p) => p.name === name)?.required));
    const r = await tryLinkToolAction({ teamId, linkId, toolId: tool.id, arguments: args });
    setPending(false);
    if (!r.ok) {
      setResult(undefined);
      return setError(r.error);
    }
    setResult(r.data);
  }

  return (
    <form onSubmit={run} className="space-y-3 rounded-md bg-zinc-50 p-4 ring-1 ring-zinc-200" data-testid={`try-${tool.name}`}>
      {tool.parameters.length ? (
        <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
          {tool.parameters.map((p) => (
            <Field key={p.name} label={`${p.name} (${p.type}${p.required ? "" : ", optional"})`} htmlFor={`try-${tool.id}-${p.name}`} hint={p.description || undefined}>
              <Input id={`try-${tool.id}-${p.name}`} value={values[p.name] ?? ""} onChange={(e) => setValues((v) => ({ ...v, [p.name]: e.target.value }))} />
            </Field>
          ))}
        </div>
      ) : (
        <p className="text-xs text-zinc-500">This tool takes no parameters.</p>
      )}
      <div className="flex items-center justify-between gap-2">
        <p className="text-xs text-zinc-500">Runs through the real gateway as you, and is recorded in Activity.</p>
        <Button type="submit" disabled={pending}>{pending ? "Running…" : "Run tool"}</Button>
      </div>
      {error ? <Alert>{error}</Alert> : null}
      {result ? <PlaygroundAnswer result={result} sql={tool.sql} slug={slug} /> : null}
    </form>
  );
}
