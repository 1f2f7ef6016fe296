"use client";
import { useParams } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Textarea } from "../../components/ui";
import { runPlaygroundAction } from "./actions";
import type { PlaygroundResponse } from "./operations";
import { PlaygroundAnswer } from "./playground-answer";

const EXAMPLES = ["SELECT * FROM artist LIMIT 5", "SELECT email FROM customer LIMIT 5", "DELETE FROM invoice_line"];

export function Playground({ teamId, linkId }: { teamId: string; linkId: string }) {
  const [sql, setSql] = useState(EXAMPLES[0]!);
  const [result, setResult] = useState<PlaygroundResponse>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  // The statement the answer is about (the editor may have changed since it ran).
  const [ran, setRan] = useState("");
  const slug = useParams<{ slug: string }>().slug;

  async function run() {
    setPending(true);
    setError(undefined);
    const r = await runPlaygroundAction({ teamId, linkId, sql });
    setPending(false);
    if (!r.ok) {
      setResult(undefined);
      return setError(r.error);
    }
    setRan(sql);
    setResult(r.data);
  }

  return (
    <div className="space-y-4">
      <div>
        <label htmlFor="playground-sql" className="text-sm font-medium text-zinc-800">SQL</label>
        <Textarea
          id="playground-sql"
          rows={6}
          className="mt-1"
          value={sql}
          spellCheck={false}
          onChange={(e) => setSql(e.target.value)}
          onKeyDown={(e) => {
            if ((e.metaKey || e.ctrlKey) && e.key === "Enter") {
              e.preventDefault();
              void run();
            }
          }}
        />
        <div className="mt-2 flex flex-wrap items-center justify-between gap-2">
          <div className="flex flex-wrap gap-1">
            {EXAMPLES.map((x) => (
              <button key={x} type="button" onClick={() => setSql(x)} className="rounded bg-zinc-100 px-2 py-0.5 font-mono text-xs text-zinc-600 hover:bg-zinc-200">{x}</button>
            ))}
          </div>
          <Button onClick={run} disabled={pending}>
            {pending ? "Running…" : "Run"} <kbd className="ml-1 rounded bg-white/20 px-1 text-[10px]">Ctrl ↵</kbd>
          </Button>
        </div>
        <p className="mt-1 text-xs text-zinc-500">Runs through the real gateway under this link&apos;s scope, as you, and is recorded in Activity like any other call.</p>
      </div>
      {error ? <Alert>{error}</Alert> : null}
      {result ? <PlaygroundAnswer result={result} sql={ran} slug={slug} /> : null}
    </div>
  );
}
