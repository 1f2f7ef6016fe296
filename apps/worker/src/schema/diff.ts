import { type SchemaSnapshotDoc, type TableSnapshot, tableKey } from "./snapshot.js";

/** Difference between two snapshots, as stored in schema_snapshots.diff and shown in the dashboard. */
export interface SchemaDiff {
  initial: boolean;
  tablesAdded: string[];
  tablesDropped: string[];
  columnsAdded: string[];
  columnsDropped: string[];
  /** "schema.table.column: old type → new type" (type or nullability). */
  columnsChanged: string[];
  indexesAdded: string[];
  indexesDropped: string[];
  foreignKeysAdded: string[];
  foreignKeysDropped: string[];
  /** "3 tables added, 1 column dropped", or "no changes". */
  summary: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function diffSnapshots(previous: SchemaSnapshotDoc | null, current: SchemaSnapshotDoc): SchemaDiff {
  const prev = new Map((previous?.tables ?? []).map((t) => [tableKey(t), t]));
  const next = new Map(current.tables.map((t) => [tableKey(t), t]));
  const diff: SchemaDiff = {
    initial: previous === null,
    tablesAdded: [],
    tablesDropped: [],
    columnsAdded: [],
    columnsDropped: [],
    columnsChanged: [],
    indexesAdded: [],
    indexesDropped: [],
    foreignKeysAdded: [],
    foreignKeysDropped: [],
    summary: "",
  };
  for (const [key, table] of next) {
    const before = prev.get(key);
    if (!before) {
      diff.tablesAdded.push(key);
      continue;
    }
    compareTables(key, before, table, diff);
  }
  for (const key of prev.keys()) if (!next.has(key)) diff.tablesDropped.push(key);

  if (diff.initial) {
    diff.summary = `first snapshot: ${plural(current.tables.length, "table")}`;
  } else {
    const parts = [
      [diff.tablesAdded.length, "table", "added"],
      [diff.tablesDropped.length, "table", "dropped"],
      [diff.columnsAdded.length, "column", "added"],
      [diff.columnsDropped.length, "column", "dropped"],
      [diff.columnsChanged.length, "column", "changed"],
      [diff.indexesAdded.length, "index", "added"],
      [diff.indexesDropped.length, "index", "dropped"],
      [diff.foreignKeysAdded.length, "foreign key", "added"],
      [diff.foreignKeysDropped.length, "foreign key", "dropped"],
    ] as const;
    const text = parts
      .filter(([n]) => n > 0)
      .map(([n, word, verb]) => `${word === "index" && n !== 1 ? `${n} indexes` : plural(n, word)} ${verb}`);
    diff.summary = text.length ? text.join(", ") : "no changes";
  }
  return diff;
}

function compareTables(key: string, before: TableSnapshot, after: TableSnapshot, diff: SchemaDiff): void {
  const oldCols = new Map(before.columns.map((c) => [c.name, c]));
  const newCols = new Map(after.columns.map((c) => [c.name, c]));
  for (const [name, col] of newCols) {
    const old = oldCols.get(name);
    if (!old) diff.columnsAdded.push(`${key}.${name}`);
    else if (old.type !== col.type || old.nullable !== col.nullable) {
      const describe = (c: typeof col) => `${c.type}${c.nullable ? "" : " not null"}`;
      diff.columnsChanged.push(`${key}.${name}: ${describe(old)} → ${describe(col)}`);
    }
  }
  for (const name of oldCols.keys()) if (!newCols.has(name)) diff.columnsDropped.push(`${key}.${name}`);

  const oldIdx = new Map(before.indexes.map((i) => [i.name, i.definition]));
  const newIdx = new Map(after.indexes.map((i) => [i.name, i.definition]));
  for (const [name, def] of newIdx) if (oldIdx.get(name) !== def) diff.indexesAdded.push(`${key}: ${name}`);
  for (const [name, def] of oldIdx) if (newIdx.get(name) !== def) diff.indexesDropped.push(`${key}: ${name}`);

  const fk = (f: TableSnapshot["foreignKeys"][number]) =>
    `${key}(${f.columns.join(", ")}) → ${f.references.schema}.${f.references.table}(${f.references.columns.join(", ")})`;
  const oldFk = new Set(before.foreignKeys.map(fk));
  const newFk = new Set(after.foreignKeys.map(fk));
  for (const f of newFk) if (!oldFk.has(f)) diff.foreignKeysAdded.push(f);
  for (const f of oldFk) if (!newFk.has(f)) diff.foreignKeysDropped.push(f);
}
