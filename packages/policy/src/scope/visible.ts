import type { Catalog, CatalogColumn, ForeignKey, RelationKind } from "../catalog/types.js";
import { accessView, type AccessView, type VisibleAccess } from "./access.js";
import { hiddenNames, redactHiddenMentions } from "./redact.js";
import type { MaskKind, Scope } from "./schema.js";

export interface VisibleColumn extends CatalogColumn {
  primaryKey: boolean;
  /**
   * Values of this column come back masked (issue 14): text (`redact` of a non-text column: NULL of its
   * type), so comparisons, joins and GROUP BY on it work on the masked value, not on `type`.
   */
  mask?: MaskKind;
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
  /** Rows are filtered for this link (a row filter on it, or on what a view over it reads). */
  rowFiltered?: true;
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
    const masks = view.governed.get(rel.key)?.masks;
    // A key through a masked column would invite a join that can no longer match (masked text on one side).
    const visibleFks = r.foreignKeys.filter((fk) => {
      const target = view.relations.get(fk.references);
      const targetMasks = view.governed.get(fk.references)?.masks;
      return (
        target &&
        fk.columns.every((c) => !rel.hiddenColumns.has(c) && !masks?.has(c)) &&
        fk.referencedColumns.every((c) => !target.hiddenColumns.has(c) && !targetMasks?.has(c))
      );
    });
    const pkVisible = r.primaryKey.every((c) => !rel.hiddenColumns.has(c));
    const primaryKey = pkVisible ? r.primaryKey : [];
    const columns: VisibleColumn[] = r.columns
      .filter((c) => !rel.hiddenColumns.has(c.name))
      .map((c) => {
        const fk = visibleFks.find((f) => f.columns.length === 1 && f.columns[0] === c.name);
        const references = fk ? `${fk.references}.${fk.referencedColumns[0]}` : undefined;
        const mask = masks?.get(c.name);
        if (mask) return { ...c, primaryKey: primaryKey.includes(c.name), ...(references ? { references } : {}), mask };
        return sharedColumn(c, primaryKey.includes(c.name), references);
      });
    relations.push({
      schema: r.schema,
      name: r.name,
      key: rel.key,
      kind: r.kind,
      access: rel.access,
      columns,
      primaryKey,
      foreignKeys: visibleFks.length === r.foreignKeys.length ? r.foreignKeys : visibleFks,
      ...(isRowFiltered(view, rel.key) ? { rowFiltered: true as const } : {}),
      ...(r.comment && redactHiddenMentions(r.comment, hidden, rel.key) ? { comment: redactHiddenMentions(r.comment, hidden, rel.key) } : {}),
    });
  }
  relations.sort((a, b) => a.key.localeCompare(b.key));
  const schemas = catalog.schemas.filter((s) => view.visibleSchemas.has(s));
  return { schemas, relations, searchPath: view.searchPath };
}

// A column shown plainly (no mask) looks the same to every scope that shows it with the same key and
// reference, so its view is made once per catalog column and shared by every link on that catalog: a
// 10,000-table catalog cost each further link ~24 MiB of copies. Frozen, so no consumer can change
// what another link sees.
const sharedColumns = new WeakMap<CatalogColumn, VisibleColumn | VisibleColumn[]>();

function sharedColumn(column: CatalogColumn, primaryKey: boolean, references: string | undefined): VisibleColumn {
  // Nearly every column has one variant: stored bare, a list only once a second appears.
  const held = sharedColumns.get(column);
  const variants = held === undefined ? [] : Array.isArray(held) ? held : [held];
  for (const v of variants) if (v.primaryKey === primaryKey && v.references === references) return v;
  const made: VisibleColumn = Object.freeze(references ? { ...column, primaryKey, references } : { ...column, primaryKey });
  sharedColumns.set(column, variants.length === 0 ? made : [...variants, made]);
  return made;
}

function isRowFiltered(view: AccessView, key: string): boolean {
  const governance = view.governed.get(key);
  if (!governance) return false;
  if (governance.rowFilter !== undefined) return true;
  return [...governance.readsGoverned, ...governance.governedChildren].some((k) => view.governed.get(k)?.rowFilter !== undefined);
}
