-- Step-up scopes (mcp:read, mcp:write, mcp:admin). Existing codes and grants keep "mcp", which the
-- verifier expands to all three: clients authorized before this change keep what they had.
ALTER TABLE "oauth_authorization_codes" ADD COLUMN "scopes" TEXT[] DEFAULT ARRAY['mcp']::TEXT[];
ALTER TABLE "oauth_grants" ADD COLUMN "scopes" TEXT[] DEFAULT ARRAY['mcp']::TEXT[];
ALTER TABLE "oauth_grants" ADD COLUMN "identity_provider_id" UUID;
CREATE INDEX "oauth_grants_client_id_user_id_link_id_idx" ON "oauth_grants"("client_id", "user_id", "link_id");

-- Enterprise-managed authorization: identity providers a team trusts, and linked enterprise identities.
CREATE TABLE "trusted_identity_providers" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "team_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "jwks_uri" TEXT,
    "jwks_json" JSONB,
    "allowed_client_ids" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "created_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "trusted_identity_providers_pkey" PRIMARY KEY ("id"),
    -- Exactly one key source: a URL to fetch, or keys pasted by the admin.
    CONSTRAINT "trusted_identity_providers_one_key_source" CHECK (("jwks_uri" IS NULL) <> ("jwks_json" IS NULL))
);
CREATE UNIQUE INDEX "trusted_identity_providers_team_id_issuer_key" ON "trusted_identity_providers"("team_id", "issuer");
CREATE INDEX "trusted_identity_providers_issuer_idx" ON "trusted_identity_providers"("issuer");
ALTER TABLE "trusted_identity_providers" ADD CONSTRAINT "trusted_identity_providers_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "trusted_identity_providers" ADD CONSTRAINT "trusted_identity_providers_created_by_id_fkey" FOREIGN KEY ("created_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

CREATE TABLE "enterprise_identities" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "provider_id" UUID NOT NULL,
    "subject" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "enterprise_identities_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "enterprise_identities_provider_id_subject_key" ON "enterprise_identities"("provider_id", "subject");
CREATE INDEX "enterprise_identities_user_id_idx" ON "enterprise_identities"("user_id");
ALTER TABLE "enterprise_identities" ADD CONSTRAINT "enterprise_identities_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "trusted_identity_providers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "enterprise_identities" ADD CONSTRAINT "enterprise_identities_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "oauth_grants" ADD CONSTRAINT "oauth_grants_identity_provider_id_fkey" FOREIGN KEY ("identity_provider_id") REFERENCES "trusted_identity_providers"("id") ON DELETE SET NULL ON UPDATE CASCADE;
