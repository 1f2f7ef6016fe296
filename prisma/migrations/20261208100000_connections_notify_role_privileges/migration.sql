-- A connection test records the target role's privileges (role_privileges): a role that became a
-- superuser or a member of a server-file role must take admin away from its links at once, not when the
-- gateways' link cache expires. Same columns as 20261206100100, plus role_privileges; the test's status
-- and timings still announce nothing.
DROP TRIGGER connections_access_notify ON "connections";
CREATE TRIGGER connections_access_notify
  AFTER UPDATE OF host, port, database, username, secret_ciphertext, secret_key_id, ssl_mode, ssl_ca_cert, team_id, role_privileges OR DELETE ON "connections"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
