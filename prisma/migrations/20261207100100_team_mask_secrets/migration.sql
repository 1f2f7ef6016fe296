-- Issue 14: the team's secret behind the `hash` mask (32 random bytes, sealed like connection secrets
-- with PORTCULLIS_SECRET_KEYS, the team id as associated data). Each link's key is derived from it
-- (maskKeyFor), so hashes are stable per link and not joinable across links. Created on first need by
-- whichever process gets there first (INSERT … ON CONFLICT DO NOTHING, then read).
CREATE TABLE "team_mask_secrets" (
  "team_id" UUID NOT NULL,
  "secret_ciphertext" TEXT NOT NULL,
  "secret_key_id" TEXT NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "team_mask_secrets_pkey" PRIMARY KEY ("team_id"),
  CONSTRAINT "team_mask_secrets_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
