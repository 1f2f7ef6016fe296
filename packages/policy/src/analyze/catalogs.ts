/**
 * System relations (pg_catalog / information_schema) by name.
 *
 * Always denied: credentials, other sessions' activity and queries, server files and configuration,
 * replication. Refused under every scope, even one that hides nothing.
 */
export const ALWAYS_DENIED_CATALOGS = new Set([
  "pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_stat_activity", "pg_locks",
  "pg_hba_file_rules", "pg_ident_file_mappings", "pg_file_settings", "pg_largeobject", "pg_largeobject_metadata",
  "pg_stat_statements", "pg_stat_statements_info", "pg_subscription", "pg_replication_slots", "pg_stat_replication",
  "pg_stat_wal_receiver", "pg_stat_subscription", "pg_backend_memory_contexts", "pg_shmem_allocations",
  "pg_config", "pg_replication_origin", "pg_replication_origin_status", "pg_stat_ssl", "pg_stat_gssapi",
  "pg_prepared_xacts", "pg_stat_progress_copy", "pg_stat_progress_vacuum", "pg_stat_progress_analyze",
  "pg_stat_progress_create_index", "pg_stat_progress_cluster", "pg_stat_progress_basebackup",
  "pg_policy", "pg_policies", "user_mapping_options", "user_mappings", "pg_foreign_server", "foreign_servers",
  "foreign_server_options", "pg_wait_events", "pg_aios", "pg_shmem_allocations_numa",
  // Per-role and per-database settings of the whole cluster (ALTER ROLE … SET can hold secrets).
  "pg_db_role_setting",
]);

/**
 * Catalogs that list nothing per user object (access methods, languages, time zones, settings...):
 * readable even on links that hide objects.
 */
export const HARMLESS_CATALOGS = new Set([
  "pg_am", "pg_database", "pg_extension", "pg_available_extensions", "pg_available_extension_versions",
  "pg_language", "pg_settings", "pg_timezone_names", "pg_timezone_abbrevs", "pg_tablespace", "pg_encoding",
  "pg_collation", "pg_ts_config", "pg_ts_dict", "pg_ts_parser", "pg_ts_template", "pg_roles", "pg_user",
  "pg_cursors", "pg_prepared_statements", "character_sets", "collations", "sql_features", "sql_implementation_info",
  "sql_parts", "sql_sizing", "information_schema_catalog_name", "enabled_roles", "applicable_roles",
]);
