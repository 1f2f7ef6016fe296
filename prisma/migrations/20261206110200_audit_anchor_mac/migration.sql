-- Retention's cut point, signed with AUDIT_CHAIN_KEY by the pruner: without it, whoever can write the
-- database could delete every event and "explain" it by moving the anchor to the newest one.
ALTER TABLE "audit_chain_anchors" ADD COLUMN "pruned_mac" TEXT;
