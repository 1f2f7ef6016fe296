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

/**
 * The virtual catalog (rewrite/catalog.ts): on links that hide something, these system relations are
 * answered with the hidden objects removed instead of being refused.
 *
 * VIRTUAL_TABLES: pg_catalog tables filtered row by row (hidden oids bound as parameters).
 * VIRTUAL_VIEWS: system views answered by expanding their definitions (loaded with the catalog) over
 * the filtered tables, so every column they compute is computed from what the link may see.
 * pg_stats reads pg_statistic (superuser only), so it is filtered by name instead of expanded.
 */
export const VIRTUAL_TABLES = new Set([
  "pg_namespace", "pg_class", "pg_attribute", "pg_index", "pg_constraint", "pg_description", "pg_attrdef",
  "pg_inherits", "pg_depend", "pg_proc", "pg_type", "pg_trigger", "pg_rewrite", "pg_statistic_ext", "pg_sequence",
]);

export const VIRTUAL_VIEWS = [
  "information_schema.schemata", "information_schema.tables", "information_schema.columns", "information_schema.views",
  "information_schema.table_constraints", "information_schema.key_column_usage", "information_schema.constraint_column_usage",
  "information_schema.referential_constraints", "information_schema.check_constraints", "information_schema.routines",
  "information_schema.parameters", "information_schema.sequences", "information_schema.triggers",
  "information_schema.table_privileges", "information_schema.column_privileges", "information_schema.element_types",
  "pg_catalog.pg_views", "pg_catalog.pg_tables", "pg_catalog.pg_indexes", "pg_catalog.pg_matviews", "pg_catalog.pg_sequences",
  "pg_catalog.pg_stat_user_tables", "pg_catalog.pg_stat_all_tables", "pg_catalog.pg_statio_user_tables",
  "pg_catalog.pg_statio_all_tables", "pg_catalog.pg_stat_user_indexes", "pg_catalog.pg_stat_all_indexes",
  "pg_catalog.pg_statio_user_indexes", "pg_catalog.pg_statio_all_indexes",
] as const;

export const VIRTUAL_STATS = "pg_catalog.pg_stats";

/**
 * Inside an expanded definition: pg_catalog tables that hold nothing about user objects a scope can
 * hide (access methods, languages, tablespaces, collations), read as they are. pg_authid (readable by
 * superusers only) is read through pg_roles, which has the same oid and rolname without passwords.
 */
export const VIRTUAL_INNER_PLAIN = new Set(["pg_collation", "pg_language", "pg_tablespace", "pg_am", "pg_database", "pg_roles"]);
