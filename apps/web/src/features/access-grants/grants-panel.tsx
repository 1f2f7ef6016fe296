"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Badge, Button, Input, formatDate } from "../../components/ui";
import { decideAccessGrantAction, revokeAccessGrantAction } from "./actions";

/** One grant or request as the link page shows it (dates as ISO text: they cross the server boundary). */
export interface GrantView {
  id: string;
  member: string;
  /** Which of the link's databases (attack finding 2); null on a single-database link for a row naming none. */
  databaseLabel: string | null;
  tableKey: string;
  access: string;
  minutes: number;
  reason: string;
  status: string;
  createdAt: string;
  expiresAt: string | null;
  requestExpiresAt: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
}

const STATUS_TONE: Record<string, "green" | "amber" | "red" | "zinc" | "blue"> = { granted: "green", pending: "amber", refused: "red", revoked: "red", expired: "zinc" };

function PendingRow({ teamId, grant, onError }: { teamId: string; grant: GrantView; onError: (message: string | undefined) => void }) {
  const router = useRouter();
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  async function decide(decision: "grant" | "refuse") {
    setBusy(true);
    const result = await decideAccessGrantAction({ teamId, grantId: grant.id, decision, ...(comment.trim() ? { comment: comment.trim() } : {}) });
    setBusy(false);
    // A refusal from the server stays on screen until the next decision succeeds.
    onError(result.ok ? undefined : result.error);
    router.refresh();
  }
  return (
    <li className="space-y-1 py-2" data-testid={`grant-request-${grant.id}`}>
      <p className="text-sm text-zinc-900">
        <span className="font-medium">{grant.member}</span> asks for <Badge tone="blue">{grant.access}</Badge> on <code className="font-mono">{grant.tableKey}</code>{grant.databaseLabel ? <> in database <code className="font-mono">{grant.databaseLabel}</code></> : null} for {grant.minutes} min
      </p>
      <p className="text-xs text-zinc-600">“{grant.reason}” · asked {formatDate(grant.createdAt)}{grant.requestExpiresAt ? ` · the request lapses ${formatDate(grant.requestExpiresAt)}` : ""}</p>
      <div className="flex flex-wrap items-center gap-2">
        <label htmlFor={`grant-comment-${grant.id}`} className="sr-only">Comment on the request of {grant.member}</label>
        <Input id={`grant-comment-${grant.id}`} className="!w-72 py-1 text-xs" placeholder="Comment (optional)" maxLength={2000} value={comment} onChange={(e) => setComment(e.target.value)} />
        <Button type="button" className="py-1 text-xs" disabled={busy} onClick={() => decide("grant")}>Grant</Button>
        <Button type="button" variant="secondary" className="py-1 text-xs" disabled={busy} onClick={() => decide("refuse")}>Refuse</Button>
      </div>
    </li>
  );
}

/** Active grants (Revoke), pending requests (Grant / Refuse) and the recent history of one link. */
export function AccessGrantsPanel({ teamId, grants }: { teamId: string; grants: GrantView[] }) {
  const router = useRouter();
  const [error, setError] = useState<string>();
  const active = grants.filter((g) => g.status === "granted");
  const pending = grants.filter((g) => g.status === "pending");
  const history = grants.filter((g) => g.status !== "granted" && g.status !== "pending");

  async function revoke(grant: GrantView) {
    const result = await revokeAccessGrantAction({ teamId, grantId: grant.id });
    setError(result.ok ? undefined : result.error);
    router.refresh();
  }

  return (
    <div className="space-y-5">
      {error ? <Alert>{error}</Alert> : null}
      <div>
        <h4 className="text-xs font-medium uppercase tracking-wide text-zinc-500">Active grants</h4>
        {active.length === 0 ? (
          <p className="mt-1 text-sm text-zinc-500">No one holds more than the scope gives right now.</p>
        ) : (
          <table className="mt-1 w-full text-sm" data-testid="active-grants">
            <thead>
              <tr className="text-left text-xs text-zinc-500">
                <th className="py-1 font-medium">Member</th><th className="font-medium">Table</th><th className="font-medium">Access</th><th className="font-medium">Until</th><th />
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100">
              {active.map((g) => (
                <tr key={g.id}>
                  <td className="py-1.5">{g.member}</td>
                  <td><code className="font-mono text-xs">{g.tableKey}</code>{g.databaseLabel ? <span className="text-xs text-zinc-500"> in database <code className="font-mono">{g.databaseLabel}</code></span> : null}</td>
                  <td><Badge tone="blue">{g.access}</Badge></td>
                  <td className="text-xs text-zinc-600">{formatDate(g.expiresAt)}</td>
                  <td className="text-right">
                    <Button type="button" variant="secondary" className="py-1 text-xs" aria-label={`Revoke ${g.access} on ${g.tableKey} for ${g.member}`} onClick={() => revoke(g)}>Revoke</Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <div>
        <h4 className="text-xs font-medium uppercase tracking-wide text-zinc-500">Pending requests</h4>
        {pending.length === 0 ? (
          <p className="mt-1 text-sm text-zinc-500">No request waits. Members (or their AI clients, through request_access) ask for more here.</p>
        ) : (
          <ul className="mt-1 divide-y divide-zinc-100">
            {pending.map((g) => <PendingRow key={g.id} teamId={teamId} grant={g} onError={setError} />)}
          </ul>
        )}
      </div>
      {history.length > 0 ? (
        <div>
          <h4 className="text-xs font-medium uppercase tracking-wide text-zinc-500">Recent history</h4>
          <ul className="mt-1 divide-y divide-zinc-100 text-xs" data-testid="grant-history">
            {history.map((g) => (
              <li key={g.id} className="flex flex-wrap items-center gap-2 py-1.5">
                <Badge tone={STATUS_TONE[g.status] ?? "zinc"}>{g.status}</Badge>
                <span className="text-zinc-800">{g.member}: {g.access} on <code className="font-mono">{g.tableKey}</code>{g.databaseLabel ? <> in database <code className="font-mono">{g.databaseLabel}</code></> : null} for {g.minutes} min</span>
                <span className="text-zinc-500">{g.decidedBy ? `by ${g.decidedBy} ` : ""}{formatDate(g.decidedAt ?? g.createdAt)}{g.comment ? ` — “${g.comment}”` : ""}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}
