"use client";
import { useState } from "react";
import { Alert, Badge, Button, Textarea } from "../../components/ui";
import { runPlaygroundAction } from "./actions";
import type { PlaygroundResponse } from "./operations";
import { SqlView } from "../activity/sql-view";

const EXAMPLES = ["SELECT * FROM artist LIMIT 5", "SELECT email FROM customer LIMIT 5", "DELETE FROM invoice_line"];

export function Playground({ teamId, linkId }: { teamId: string; linkId: string }) {
  const [sql, setSql] = useState(EXAMPLES[0]!);
  const [result, setResult] = useState<PlaygroundResponse>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  async function run() {
    setPending(true);
    setError(undefined);
    const r = await runPlaygroundAction({ teamId, linkId, sql });
    setPending(false);
    if (!r.ok) {
      setResult(undefined);
      return setError(r.error);
    }
    setResult(r.data);
  }

  const rows = result?.result?.rows ?? [];
  const columns = result?.result?.columns ?? [];
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
      {result ? (
        <div className="space-y-3" data-testid="playground-result">
          {result.verdict.allowed ? (
            <Alert tone="green" title="Allowed">
              {result.verdict.classes.length ? <>Statement: {result.verdict.classes.join(", ")}. </> : null}
              {result.verdict.tables.length ? <>Tables: {result.verdict.tables.join(", ")}.</> : null}
            </Alert>
          ) : (
            <Alert title="Blocked">
              <p>{result.verdict.reason}</p>
              {result.verdict.ruleId ? <p className="mt-1 text-xs">Rule <Badge tone="red">{result.verdict.ruleId}</Badge></p> : null}
            </Alert>
          )}
          {result.verdict.rewrittenSql ? (
            <div className="grid grid-cols-1 gap-3 lg:grid-cols-2" data-testid="playground-rewrite">
              <div>
                <p className="mb-1 text-xs font-medium uppercase tracking-wide text-zinc-500">You wrote</p>
                <SqlView sql={sql} testId="playground-original-sql" />
              </div>
              <div>
                <p className="mb-1 text-xs font-medium uppercase tracking-wide text-zinc-500">Ran as (row filters and masks applied)</p>
                <SqlView sql={result.verdict.rewrittenSql} testId="playground-rewritten-sql" />
                {result.verdict.attributeNames?.length ? (
                  <p className="mt-1 text-xs text-zinc-500">Your attributes bound as parameters: {result.verdict.attributeNames.join(", ")}</p>
                ) : null}
              </div>
            </div>
          ) : null}
          {result.error ? <Alert tone="amber" title="PostgreSQL error">{result.error}</Alert> : null}
          {result.result ? (
            <div className="overflow-x-auto rounded-lg ring-1 ring-zinc-200">
              <table className="min-w-full divide-y divide-zinc-200 text-xs">
                <thead className="bg-zinc-50">
                  <tr>{columns.map((c) => <th key={c} className="px-3 py-1.5 text-left font-mono font-medium text-zinc-600">{c}</th>)}</tr>
                </thead>
                <tbody className="divide-y divide-zinc-100 bg-white">
                  {rows.map((row, i) => (
                    <tr key={i}>
                      {columns.map((c, j) => {
                        const v = Array.isArray(row) ? row[j] : (row as Record<string, unknown>)[c];
                        return <td key={c} className="whitespace-nowrap px-3 py-1 font-mono text-zinc-800">{v === null ? <span className="text-zinc-400">null</span> : typeof v === "object" ? JSON.stringify(v) : String(v)}</td>;
                      })}
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="bg-zinc-50 px-3 py-1.5 text-xs text-zinc-500">
                {result.result.rowCount} row{result.result.rowCount === 1 ? "" : "s"}{result.result.truncated ? " — cut at the link's row limit" : ""}
              </p>
            </div>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
