import { Badge } from "../../components/ui";
import type { Actor } from "../../lib/authz";
import { auditChainStatus } from "./audit-chain";

/**
 * The "verified" badge of the Activity tab. An async server component rendered inside <Suspense>:
 * verifying reads the whole chain, so the page streams first and the badge follows.
 */
export async function AuditChainBadge({ actor, teamId, slug }: { actor: Actor; teamId: string; slug: string }) {
  let status;
  try {
    status = await auditChainStatus(actor, teamId);
  } catch (error) {
    console.error("[web] audit chain verification failed", error);
    return <Badge tone="amber" className="whitespace-nowrap">Audit trail not verified (check failed; retried on refresh)</Badge>;
  }
  const checkedAt = `Checked ${new Date(status.verifiedAt).toLocaleTimeString("en", { timeZone: "UTC", hour12: false })} UTC; re-checked at most once a minute.`;
  const pruned = status.prunedThroughSeq && status.prunedThroughSeq !== "0" ? ` Events up to seq ${status.prunedThroughSeq} were removed by retention; the chain is checked from there.` : "";
  const keyed = status.keyedFromSeq
    ? ` Keyed (HMAC) from seq ${status.keyedFromSeq}${status.keyedFromSeq !== "1" ? "; older events plain SHA-256" : ""}.`
    : " Not keyed: AUDIT_CHAIN_KEY is not set, so someone who can write the database could rewrite the chain.";
  const cp = status.checkpoint?.status === "matched" ? ` Matches the head checkpoint kept outside the database (seq ${status.checkpoint.seq}).` : " No checkpoint outside the database was consulted.";
  if (status.ok) {
    return (
      <span title={`Every event's hash commits to the previous one, and none was edited, removed or inserted.${keyed}${cp}${pruned} ${checkedAt}`} data-testid="audit-chain">
        <Badge tone="green" className="whitespace-nowrap">✓ Audit trail verified · {status.checked.toLocaleString("en")} event{status.checked === 1 ? "" : "s"}</Badge>
      </span>
    );
  }
  return (
    <span title={`${status.firstBroken?.reason ?? "the hash chain does not hold"}.${pruned} ${checkedAt} Details: ./portcullis audit verify --team ${slug}`} data-testid="audit-chain">
      <Badge tone="red" className="whitespace-nowrap">
        ✗ Audit trail {status.breaks?.length ? "chain break" : "BROKEN"} at seq {status.firstBroken?.seq ?? "?"}
      </Badge>
    </span>
  );
}

export function AuditChainBadgePending() {
  return <Badge className="whitespace-nowrap">Verifying audit trail…</Badge>;
}
