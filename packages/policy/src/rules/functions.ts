/**
 * Function lists by name (the checker resolves calls by name; overloads share one verdict).
 *
 * DENIED_* : refused under every scope, in any schema (an extension may install `dblink` in public):
 * they reach outside the database, block, lock, or change session state.
 */
export const DENIED_FUNCTIONS = new Set([
  "pg_stat_file", "pg_current_logfile", "pg_logdir_ls",
  "loread", "lowrite",
  "pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend", "pg_reload_conf", "pg_rotate_logfile",
  "pg_rotate_logfile_old", "pg_promote", "pg_switch_wal", "pg_switch_xlog", "pg_create_restore_point",
  "set_config", "setseed", "pg_notify", "pg_export_snapshot", "pg_import_system_collations",
  "ts_stat", "ts_rewrite", "pg_nextoid", "pg_current_xact_id", "txid_current", "pg_stat_statements_reset",
  "pg_wal_lsn_diff", "pg_sequence_last_value", "pg_get_wal_replay_pause_state",
  // The functions behind catalogs refused under every scope (the view refused, its function not, was
  // a way round): replication slots of every database, server file paths and settings, control data.
  "pg_get_replication_slots", "pg_relation_filepath", "pg_relation_filenode", "pg_show_all_file_settings",
  "pg_hba_file_rules", "pg_ident_file_mappings", "pg_show_replication_origin_status",
  "pg_get_backend_memory_contexts", "pg_get_shmem_allocations", "pg_get_shmem_allocations_numa", "pg_config",
  "pg_control_system", "pg_control_checkpoint", "pg_control_recovery", "pg_control_init",
]);

export const DENIED_PREFIXES = [
  "pg_read_", "pg_ls_", "pg_file_", "lo_", "dblink", "pg_sleep", "pg_advisory", "pg_try_advisory",
  "pg_stat_reset", "pg_logical_", "pg_replication_", "pg_create_", "pg_drop_replication", "pg_copy_",
  "pg_backup_", "pg_start_backup", "pg_stop_backup", "pg_wal_replay_", "binary_upgrade_", "pg_log_",
  "query_to_xml", "cursor_to_xml", "table_to_xml", "schema_to_xml", "database_to_xml", "http_", "http",
  "pg_terminate", "pg_cancel", "pg_signal", "pg_stat_get_",
];

export function isDeniedFunction(name: string): boolean {
  if (DENIED_FUNCTIONS.has(name)) return true;
  for (const prefix of DENIED_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

/** Sequence functions: a write on the named sequence (nextval/setval); currval/lastval only read. */
export const SEQUENCE_WRITERS = new Set(["nextval", "setval"]);

/**
 * Catalog lookups by oid/name: harmless when the scope hides nothing, but able to reveal a hidden
 * object's existence or definition otherwise (`to_regclass('secret')`, `pg_get_viewdef(...)`).
 */
export const CATALOG_FUNCTIONS_PATTERN =
  /^(pg_get_|pg_describe_object|pg_identify_object|obj_description|col_description|shobj_description|to_reg|has_.*_privilege$|pg_has_role$|pg_.*_is_visible$|pg_relation_|pg_total_relation_size$|pg_table_size$|pg_indexes_size$|pg_partition_|pg_options_to_table$|pg_index_column_has_property$|pg_index_has_property$|pg_indexam_has_property$|pg_sequence_parameters$|pg_tablespace_|pg_database_size$|pg_filenode_relation$|pg_input_is_valid$|pg_input_error_info$|currtid|pg_visible_in_snapshot$|pg_event_trigger_|format_type$|satisfies_hash_partition$)/;

/**
 * Stable and volatile built-ins allowed in reads (immutable built-ins are allowed without listing:
 * by definition they compute from their arguments alone). Kept to what analysts and agents use.
 */
export const ALLOWED_NON_IMMUTABLE = new Set([
  // time
  "now", "transaction_timestamp", "statement_timestamp", "clock_timestamp", "timeofday", "current_date",
  "localtime", "localtimestamp", "age", "date_trunc", "date_part", "extract", "date_add", "date_subtract",
  "to_char", "to_date", "to_timestamp", "to_number", "make_timestamptz", "timezone", "isfinite", "date_bin",
  "generate_series", "overlaps", "justify_interval",
  // text & formatting
  "format", "concat", "concat_ws", "quote_literal", "quote_nullable", "array_to_string", "string_agg",
  "lower", "upper", "initcap", "unaccent", "to_ascii", "normalize", "is_normalized", "starts_with",
  // json / xml / arrays
  "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_build_object", "jsonb_build_object",
  "json_build_array", "jsonb_build_array", "json_object", "jsonb_object", "json_agg", "jsonb_agg",
  "json_agg_strict", "jsonb_agg_strict", "json_object_agg", "jsonb_object_agg", "json_objectagg", "json_arrayagg",
  "json_populate_record", "jsonb_populate_record", "json_populate_recordset", "jsonb_populate_recordset",
  "json_to_record", "jsonb_to_record", "json_to_recordset", "jsonb_to_recordset",
  "jsonb_path_exists_tz", "jsonb_path_match_tz", "jsonb_path_query_tz", "jsonb_path_query_array_tz",
  "jsonb_path_query_first_tz", "xmlagg", "xmlconcat", "xmlelement", "xmlforest", "xmlparse",
  "array_agg", "unnest", "array_fill", "cardinality", "enum_range", "enum_first", "enum_last",
  // text search
  "to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery",
  "ts_headline", "ts_rank", "ts_rank_cd", "get_current_ts_config", "json_to_tsvector", "jsonb_to_tsvector",
  // randomness and ids
  "random", "random_normal", "gen_random_uuid", "uuid_generate_v4", "uuid_generate_v1", "uuidv4", "uuidv7",
  "gen_random_bytes", "gen_salt",
  // session facts an agent legitimately asks about
  "current_setting", "current_database", "current_catalog", "current_schema", "current_schemas",
  "current_user", "session_user", "current_role", "user", "version", "pg_postmaster_start_time",
  "pg_conf_load_time", "pg_encoding_to_char", "pg_char_to_encoding", "pg_client_encoding",
  // not currval/lastval: pooled sessions are shared, so they would show another caller's last id.
  "inet_server_port", "pg_size_pretty", "pg_size_bytes", "pg_jit_available",
  "pg_column_size", "pg_typeof", "format_type", "num_nulls", "num_nonnulls", "pg_collation_actual_version",
  // aggregates and windows marked stable for some argument types
  "sum", "avg", "min", "max", "count", "percentile_cont", "percentile_disc", "mode", "stddev", "variance",
  "row_number", "rank", "dense_rank", "lag", "lead", "first_value", "last_value", "nth_value", "ntile",
  "cume_dist", "percent_rank", "range_agg", "range_intersect_agg", "string_to_table",
]);
