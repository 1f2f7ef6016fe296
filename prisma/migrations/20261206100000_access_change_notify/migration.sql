-- Every change that can take access away is announced to the gateways by PostgreSQL itself, whoever
-- makes it (dashboard, CLI, worker, plain SQL): a row trigger on each table the gateway's key, token and
-- link lookups read sends a NOTIFY on channel `portcullis_access`, which PostgreSQL delivers only when
-- (and if) the transaction commits. Each gateway LISTENs and drops the matching cache entries at once;
-- its caches' TTL is only a backstop. Identical payloads within one transaction are folded by
-- PostgreSQL, so a team deletion's cascade sends one message per distinct row, not per statement run.
CREATE FUNCTION portcullis_notify_access_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
  PERFORM pg_notify('portcullis_access', json_build_object(
    'table', TG_TABLE_NAME,
    'id', r->>'id',
    'team', CASE WHEN TG_TABLE_NAME = 'teams' THEN r->>'id' ELSE r->>'team_id' END,
    'link', r->>'link_id',
    'user', r->>'user_id',
    'grant', r->>'grant_id',
    'connection', r->>'connection_id'
  )::text);
  RETURN NULL;
END;
$$;

-- Access is granted or taken away by these (inserts matter for memberships and link access: a cached
-- "no access" answer must not outlive a re-invitation by more than the broadcast).
CREATE TRIGGER memberships_access_notify AFTER INSERT OR UPDATE OR DELETE ON "memberships"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER link_access_access_notify AFTER INSERT OR UPDATE OR DELETE ON "link_access"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER teams_access_notify AFTER UPDATE OR DELETE ON "teams"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER links_access_notify AFTER INSERT OR UPDATE OR DELETE ON "links"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER connections_access_notify AFTER UPDATE OR DELETE ON "connections"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
-- Keys and grants: not for last-used bookkeeping (the worker's flush touches thousands of key rows).
CREATE TRIGGER api_keys_access_notify AFTER UPDATE OF revoked_at, expires_at, hash, link_id, user_id, team_id OR DELETE ON "api_keys"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER oauth_grants_access_notify AFTER UPDATE OF revoked_at, link_id, user_id, team_id, client_id OR DELETE ON "oauth_grants"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
-- Tokens are inserted on every refresh and pruned when expired: only revoking a live one matters.
CREATE TRIGGER oauth_tokens_access_notify AFTER UPDATE OF revoked_at ON "oauth_tokens"
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER oauth_tokens_delete_notify AFTER DELETE ON "oauth_tokens"
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND OLD.kind = 'access')
  EXECUTE FUNCTION portcullis_notify_access_change();

-- A member who leaves a team takes their credentials along: keys and OAuth grants are revoked with the
-- membership, so they do not come back to life if the same person is invited again later.
CREATE FUNCTION portcullis_revoke_credentials_of_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE oauth_grants SET revoked_at = CURRENT_TIMESTAMP
    WHERE team_id = OLD.team_id AND user_id = OLD.user_id AND revoked_at IS NULL;
  UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP
    WHERE team_id = OLD.team_id AND user_id = OLD.user_id AND revoked_at IS NULL;
  RETURN NULL;
END;
$$;

CREATE TRIGGER memberships_revoke_credentials AFTER DELETE ON "memberships"
  FOR EACH ROW EXECUTE FUNCTION portcullis_revoke_credentials_of_membership();
