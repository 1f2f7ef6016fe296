"use client";
import { useRouter } from "next/navigation";
import { useId, useState } from "react";
import { Alert, Button, inputClass } from "../../components/ui";
import { decideAccessGrantAction, revokeAccessGrantAction } from "../access-grants/actions";
import { decideWriteRequestAction } from "./actions";
import { announceDecision } from "./decision-notices";

type Reply = { ok: true } | { ok: false; error: string; fieldErrors?: Record<string, string> };

function useDecision() {
  const router = useRouter();
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  async function run(label: string, call: () => Promise<Reply>, success: string) {
    setPending(label);
    setError(undefined);
    const result = await call();
    setPending(null);
    // A missing comment is the form's business: nothing changed, the list stays as it is.
    if (!result.ok && result.fieldErrors?.comment) return setError(result.fieldErrors.comment);
    if (result.ok) setDone(success);
    else setError(result.error);
    announceDecision(result.ok ? "green" : "red", result.ok ? success : result.error);
    // Won or lost, the list is stale now (someone else may have decided): show what is true.
    router.refresh();
  }
  return { pending, error, done, run };
}

/**
 * Approve / Reject (or Confirm, for the requester of a confirm-kind request) with a comment. The
 * buttons shown are what the page computed; the server action decides again and says why not.
 */
export function DecisionForm({ teamId, requestId, may }: { teamId: string; requestId: string; may: { approve: boolean; reject: boolean; confirm: boolean; why: string | null } }) {
  const { pending, error, done, run } = useDecision();
  const [comment, setComment] = useState("");
  const fieldId = useId();
  if (done) return <Alert tone="green">{done}</Alert>;
  const decide = (decision: "approve" | "reject", success: string) =>
    run(decision, () => decideWriteRequestAction({ teamId, requestId, decision, ...(comment.trim() ? { comment: comment.trim() } : {}) }) as Promise<Reply>, success);
  const any = may.approve || may.reject || may.confirm;
  return (
    <div className="space-y-2" data-testid="decision-form">
      {may.why ? <p className="text-sm text-zinc-600" data-testid="decision-why">{may.why[0]!.toUpperCase() + may.why.slice(1)}.</p> : null}
      {any ? (
        <>
          <label htmlFor={fieldId} className="block text-xs font-medium text-zinc-700">Comment {may.reject ? "(required to reject)" : null}</label>
          <textarea id={fieldId} value={comment} onChange={(e) => setComment(e.target.value)} rows={2} maxLength={2000} className={inputClass} placeholder="Why — the requester and the audit log read this" />
          <div className="flex flex-wrap gap-2">
            {may.confirm ? <Button disabled={!!pending} onClick={() => decide("approve", "Confirmed. The client may now run it once.")}>{pending === "approve" ? "Confirming…" : "Confirm"}</Button> : null}
            {may.approve ? <Button disabled={!!pending} onClick={() => decide("approve", "Approved. The client may now run it once.")}>{pending === "approve" ? "Approving…" : "Approve"}</Button> : null}
            {may.reject ? <Button variant="danger" disabled={!!pending} onClick={() => decide("reject", "Rejected. Nothing will run.")}>{pending === "reject" ? "Rejecting…" : "Reject"}</Button> : null}
          </div>
        </>
      ) : null}
      {error ? <Alert>{error}</Alert> : null}
    </div>
  );
}

export function GrantDecisionForm({ teamId, grantId }: { teamId: string; grantId: string }) {
  const { pending, error, done, run } = useDecision();
  const [comment, setComment] = useState("");
  const fieldId = useId();
  if (done) return <Alert tone="green">{done}</Alert>;
  const decide = (decision: "grant" | "refuse", success: string) =>
    run(decision, () => decideAccessGrantAction({ teamId, grantId, decision, ...(comment.trim() ? { comment: comment.trim() } : {}) }) as Promise<Reply>, success);
  return (
    <div className="space-y-2">
      <label htmlFor={fieldId} className="sr-only">Comment</label>
      <textarea id={fieldId} value={comment} onChange={(e) => setComment(e.target.value)} rows={1} maxLength={2000} className={inputClass} placeholder="Comment (required to refuse)" />
      <div className="flex gap-2">
        <Button disabled={!!pending} onClick={() => decide("grant", "Granted: the access starts now.")}>{pending === "grant" ? "Granting…" : "Grant"}</Button>
        <Button variant="secondary" disabled={!!pending} onClick={() => decide("refuse", "Refused.")}>{pending === "refuse" ? "Refusing…" : "Refuse"}</Button>
      </div>
      {error ? <Alert>{error}</Alert> : null}
    </div>
  );
}

export function RevokeGrantButton({ teamId, grantId }: { teamId: string; grantId: string }) {
  const { pending, error, done, run } = useDecision();
  if (done) return <span className="text-xs text-zinc-500">{done}</span>;
  return (
    <div className="space-y-1">
      <Button variant="secondary" className="px-2 py-1 text-xs" disabled={!!pending} onClick={() => run("revoke", () => revokeAccessGrantAction({ teamId, grantId }) as Promise<Reply>, "Revoked.")}>
        {pending ? "Revoking…" : "Revoke"}
      </Button>
      {error ? <Alert>{error}</Alert> : null}
    </div>
  );
}
