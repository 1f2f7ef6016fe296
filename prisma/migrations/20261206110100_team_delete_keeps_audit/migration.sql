-- A team's deletion no longer erases the record of what was run against its databases: its events move
-- to audit_orphans (with the chain fields, so an operator can still read them in order) instead of being
-- deleted. Otherwise an owner could run SQL and then delete the team to remove every trace of it, and a
-- batch committing during the deletion would vanish with it. Operators purge orphans deliberately.
CREATE OR REPLACE FUNCTION audit_events_delete_for_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_orphans (id, team_id, event, reason)
    SELECT e.id, e.team_id, row_to_json(e)::text, 'team deleted (event was stored in its chain at seq ' || e.seq || ')'
    FROM audit_events e WHERE e.team_id = OLD.id
    ON CONFLICT (id) DO NOTHING;
  DELETE FROM audit_events WHERE team_id = OLD.id;
  RETURN NULL;
END;
$$;
