export type RelationKind = "table" | "partitioned_table" | "view" | "materialized_view" | "foreign_table" | "sequence";

export interface CatalogColumn {
  name: string;
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}

export type FkAction = "cascade" | "set null" | "set default";

export interface ForeignKey {
  columns: string[];
  references: string; // "schema.table"
  referencedColumns: string[];
  /** ON DELETE action that changes this table's rows when a referenced row goes; absent: NO ACTION / RESTRICT. */
  onDelete?: FkAction;
  /** ON UPDATE action that changes this table's rows when a referenced key changes; absent: NO ACTION / RESTRICT. */
  onUpdate?: FkAction;
}

export interface CatalogRelation {
  oid: number;
  schema: string;
  name: string;
  kind: RelationKind;
  columns: CatalogColumn[];
  primaryKey: string[];
  foreignKeys: ForeignKey[];
  /** Inheritance/partition children ("schema.table"): a scan of the parent reads them too. */
  children: string[];
  /** Views and materialized views: relations (and their columns) read, transitively. */
  reads?: { relation: string; columns: string[] | "all" }[];
  /** Sequences: the table column owning it (serial/identity), which hides it along with the table. */
  ownedBy?: { relation: string; column: string };
  /** Plain views: the defining SELECT, every user relation schema-qualified (pg_get_viewdef). */
  definition?: string;
  /** Views: user functions called by the definition, transitively ("schema.name"). */
  calls?: string[];
  /**
   * Views: system relations the definition reads, transitively ("pg_catalog.pg_class"). Such a view
   * runs with its owner's rights over the real catalog, so it lists hidden objects too.
   */
  readsCatalog?: string[];
  /**
   * Views and materialized views: denied built-ins the definition calls, transitively (query_to_xml,
   * ts_stat…: they run SQL text, which no dependency records). Such a view reads what it likes.
   */
  deniedCalls?: string[];
  comment?: string;
  /**
   * User functions the database runs when this relation's rows are written ("schema.name"): column
   * defaults and generated columns, CHECK constraints, triggers. Absent when none.
   */
  runs?: string[];
  /** Generated columns: the columns their expression reads (DROP COLUMN … CASCADE of one drops them). */
  derivedColumns?: Record<string, string[]>;
  /** Column numbers (pg_attribute.attnum), parallel to `columns` (dropped columns leave gaps). */
  attnums?: number[];
  /**
   * What PostgreSQL would drop with this relation (DROP … CASCADE) or with some of its columns:
   * indexes, constraints, defaults, triggers, rules, row types, toast tables, owned sequences… For
   * the virtual catalog, which removes them when the relation or one of `columns` is hidden.
   */
  dependents?: CatalogObjectRef[];
}

/** A row of a pg_catalog table that belongs to a user object (the virtual catalog's hidden sets). */
export interface CatalogObjectRef {
  oid: number;
  /** The pg_catalog table holding the row: "pg_class", "pg_type", "pg_constraint", … */
  catalog: string;
  /**
   * For a relation's dependents: the column numbers it depends on (an expression index, CHECK or
   * default records one per column its expression uses); absent when only the whole relation.
   */
  columns?: number[];
}

export type Volatility = "immutable" | "stable" | "volatile";

export interface CatalogFunction {
  schema: string;
  name: string;
  kind: "function" | "procedure" | "aggregate" | "window";
  volatility: Volatility;
  language: string;
  securityDefiner: boolean;
  /** Part of an extension (pgcrypto, dblink, ...), not written by the database's users. */
  extension: string | null;
  /** For SQL-language bodies we could parse: relations read ("schema.table"); null when unknown. */
  reads: string[] | null;
  /** Argument counts accepted, per overload: [min, max] (defaults lower min; VARIADIC raises max). */
  arities: [number, number][];
  /** User functions the body calls ("schema.name"), for transitive checks; null when unknown. */
  calls: string[] | null;
  /**
   * SQL-language bodies the loader parsed: true when every statement is a plain SELECT (no
   * data-modifying CTE, SELECT INTO or row lock). Says nothing of the functions it calls (see
   * analyze/function-writes.ts). Absent (older catalogs) or false: the body may write.
   */
  readOnly?: boolean;
  /**
   * Every overload is internal code PostgreSQL created for a type (range and multirange constructors:
   * pg_depend 'i' on the type): it builds a value and writes nothing.
   */
  forType?: true;
}

/** A function a cast to a type runs: `from` is the cast's source type ("schema.typname"); absent for a domain CHECK. */
export interface TypeRun {
  fn: string;
  from?: string;
}

/**
 * Everything the checker needs about one target database. Plain data (JSON-serialisable) so it
 * can be cached, shipped between processes and hashed; `version` changes whenever the content does.
 */
export interface Catalog {
  version: string;
  loadedAt: string;
  database: string;
  serverVersion: number;
  /** Non-system schemas. */
  schemas: string[];
  /** User relations by "schema.name". */
  relations: Record<string, CatalogRelation>;
  /** Names of relations in pg_catalog and information_schema, by "schema.name". */
  systemRelations: Record<string, true>;
  /** Non-built-in functions by "schema.name" (overloads merged, most permissive facts kept worst-case). */
  functions: Record<string, CatalogFunction>;
  /** pg_catalog function volatility by name (worst case over overloads). */
  builtinFunctions: Record<string, Volatility>;
  /** Type names in pg_catalog (they win over a table of the same name when unqualified). */
  builtinTypeNames?: Record<string, true>;
  /**
   * User functions a cast to a type runs, by schema-qualified type name ("schema.typname"): cast
   * functions (with the cast's source type) and a domain's CHECK functions (no source: every value
   * cast to the domain runs them). Absent when none.
   */
  typeRuns?: Record<string, TypeRun[]>;
  /** pg_catalog functions whose overloads all return one concrete pg_catalog type, by name: that typname. */
  builtinReturnTypes?: Record<string, string>;
  /** User-defined operators by symbol: the functions ("schema.name") behind them. */
  operators: Record<string, string[]>;
  extensions: string[];
  /**
   * Extensions the server could install, by name: `trusted` when every version is (a trusted extension
   * can be created by a non-superuser with CREATE on the database; its scripts are the server's).
   */
  availableExtensions?: Record<string, { trusted: boolean }>;
  /** For the virtual catalog: user schemas' oids and the objects in them that are not relations. */
  schemaObjects?: Record<string, { oid: number; objects: CatalogObjectRef[] }>;
  /**
   * For the virtual catalog: definitions of the system views it expands, by "schema.name"
   * (pg_get_viewdef with search_path = pg_catalog, so names outside pg_catalog are qualified).
   */
  systemViews?: Record<string, string>;
  /** For the virtual catalog: column names of the system relations it covers, by "schema.name". */
  systemColumns?: Record<string, string[]>;
  /** Their types (format_type), parallel to `systemColumns`: only oid-like columns may name objects. */
  systemColumnTypes?: Record<string, string[]>;
}
