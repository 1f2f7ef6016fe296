-- Activity's "kind" filter (configuration changes) had no index: on a big team it walked the team's
-- whole time index to find the few config_change events among millions of tool calls (or to find
-- none). A partial index holds only the events that are not tool calls, so ingestion of tool calls
-- pays nothing for it and the filter reads just those rows; the planner proves `kind = 'config_change'`
-- implies the predicate because Activity sends the value as a parameter of a one-off statement.
CREATE INDEX "audit_events_team_id_time_id_not_tool_call_idx" ON "audit_events" ("team_id", "time" DESC, "id" DESC) WHERE "kind" <> 'tool_call';
