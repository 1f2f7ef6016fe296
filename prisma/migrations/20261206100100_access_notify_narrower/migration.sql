-- Two access-change triggers fired for changes that take no access away, at volume:
-- - housekeeping prunes expired access tokens in bulk: deleting a token that has already expired
--   changes nothing, so only the deletion of a live one is announced;
-- - connection tests and introspection update a connection's status and test results: only the fields
--   that reach the database (or move it) are announced, as each announcement reloads the catalog.
DROP TRIGGER oauth_tokens_delete_notify ON "oauth_tokens";
CREATE TRIGGER oauth_tokens_delete_notify AFTER DELETE ON "oauth_tokens"
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND OLD.kind = 'access' AND OLD.expires_at > CURRENT_TIMESTAMP)
  EXECUTE FUNCTION portcullis_notify_access_change();

DROP TRIGGER connections_access_notify ON "connections";
CREATE TRIGGER connections_access_notify
  AFTER UPDATE OF host, port, database, username, secret_ciphertext, secret_key_id, ssl_mode, ssl_ca_cert, team_id OR DELETE ON "connections"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
