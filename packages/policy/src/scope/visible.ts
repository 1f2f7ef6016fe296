import type { Catalog, CatalogColumn, ForeignKey, RelationKind } from "../catalog/types.js";
import { accessView, type VisibleAccess } from "./access.js";
import { hiddenNames, redactHiddenMentions } from "./redact.js";
import type { Scope } from "./schema.js";

export interface VisibleColumn extends CatalogColumn {
  primaryKey: boolean;
  /** "schema.table.column" this column references, when the referenced table and column are visible. */
  references?: string;
}

export interface VisibleRelation {
  schema: string;
  name: string;
  /** "schema.name" */
  key: string;
  kind: RelationKind;
  access: VisibleAccess;
  columns: VisibleColumn[];
  primaryKey: string[];
  foreignKeys: ForeignKey[];
  comment?: string;
}

export interface VisibleObjects {
  schemas: string[];
  relations: VisibleRelation[];
  /** The search_path the gateway sets (see searchPathFor). */
  searchPath: string[];
}

/**
 * What a link can see: the only source list_tables / describe_table / get_schema should use, so a
 * hidden table or column never appears there either. Foreign keys to hidden tables or through hidden
 * columns are dropped (they would name the hidden object).
 */
export function visibleObjects(scope: Scope, catalog: Catalog): VisibleObjects {
  const view = accessView(scope, catalog);
  const hidden = hiddenNames(scope, catalog);
  const relations: VisibleRelation[] = [];
  for (const rel of view.relations.values()) {
    const r = rel.relation;
    const visibleFks = r.foreignKeys.filter((fk) => {
      const target = view.relations.get(fk.references);
      return (
        target &&
        fk.columns.every((c) => !rel.hiddenColumns.has(c)) &&
        fk.referencedColumns.every((c) => !target.hiddenColumns.has(c))
      );
    });
    const pkVisible = r.primaryKey.every((c) => !rel.hiddenColumns.has(c));
    const primaryKey = pkVisible ? r.primaryKey : [];
    const columns: VisibleColumn[] = r.columns
      .filter((c) => !rel.hiddenColumns.has(c.name))
      .map((c) => {
        const fk = visibleFks.find((f) => f.columns.length === 1 && f.columns[0] === c.name);
        return {
          ...c,
          primaryKey: primaryKey.includes(c.name),
          ...(fk ? { references: `${fk.references}.${fk.referencedColumns[0]}` } : {}),
        };
      });
    relations.push({
      schema: r.schema,
      name: r.name,
      key: rel.key,
      kind: r.kind,
      access: rel.access,
      columns,
      primaryKey,
      foreignKeys: visibleFks,
      ...(r.comment && redactHiddenMentions(r.comment, hidden, rel.key) ? { comment: redactHiddenMentions(r.comment, hidden, rel.key) } : {}),
    });
  }
  relations.sort((a, b) => a.key.localeCompare(b.key));
  const schemas = catalog.schemas.filter((s) => view.visibleSchemas.has(s));
  return { schemas, relations, searchPath: view.searchPath };
}
