-- Where retention cut each team's audit hash chain. Verification starts from this anchor instead of
-- the genesis hash, so pruning old events is distinguishable from someone deleting them.
-- A table of its own (not columns on audit_chain_heads) so that retention never takes the row lock
-- that ingestion holds on the head: the two never wait on each other.
CREATE TABLE "audit_chain_anchors" (
    "team_id" UUID NOT NULL,
    "pruned_through_seq" BIGINT NOT NULL DEFAULT 0,
    "pruned_through_hash" TEXT NOT NULL,
    "pruned_count" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "audit_chain_anchors_pkey" PRIMARY KEY ("team_id")
);

ALTER TABLE "audit_chain_anchors" ADD CONSTRAINT "audit_chain_anchors_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;
