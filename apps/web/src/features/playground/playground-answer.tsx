import Link from "next/link";
import { Alert, Badge } from "../../components/ui";
import { SqlView } from "../activity/sql-view";
import { affectedWords, timeLeft } from "../approvals/preview-diff";
import type { PlaygroundResponse } from "./operations";

type Pending = NonNullable<PlaygroundResponse["pending"]>;

/**
 * A write the link sends to a person: nothing ran, so it is neither "Allowed" nor a refusal. Says what
 * it would do (the dry run's count), the gateway's message, and where it is decided.
 */
function WaitingForApproval({ pending, slug }: { pending: Pending; slug: string }) {
  return (
    <div data-testid="playground-pending">
      <Alert tone="amber" title="Waiting for approval">
        <p data-testid="playground-pending-words">This statement {affectedWords(pending.preview)}. Nothing was run.</p>
        {pending.kind === "confirm" ? <p className="mt-1">You confirm this one yourself, on the Approvals page.</p> : null}
        <p className="mt-1 text-xs" data-testid="playground-pending-message">{pending.message}</p>
        <p className="mt-2 text-xs">
          <Link href={`/t/${slug}/approvals?request=${pending.requestId}`} className="font-medium text-brand-700 underline hover:text-brand-800" data-testid="playground-pending-link">
            Open the request on the Approvals page
          </Link>{" "}
          <span className="text-amber-800">· {timeLeft(pending.expiresAt)}</span>
        </p>
      </Alert>
    </div>
  );
}

/** The gateway's answer to a Playground run: verdict (or waiting request), the rewrite, the rows. */
export function PlaygroundAnswer({ result, sql, slug }: { result: PlaygroundResponse; sql: string; slug: string }) {
  const rows = result.result?.rows ?? [];
  const columns = result.result?.columns ?? [];
  return (
    <div className="space-y-3" data-testid="playground-result">
      {result.pending ? (
        <WaitingForApproval pending={result.pending} slug={slug} />
      ) : result.verdict.allowed ? (
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
  );
}
