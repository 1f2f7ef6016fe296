import { expect, test } from "vitest";
import { diffSnapshots } from "../src/schema/diff.js";
import type { SchemaSnapshotDoc, TableSnapshot } from "../src/schema/snapshot.js";

const table = (name: string, columns: [string, string][], extra: Partial<TableSnapshot> = {}): TableSnapshot => ({
  schema: "public",
  name,
  kind: "table",
  comment: null,
  rowEstimate: null,
  columns: columns.map(([n, type]) => ({ name: n, type, nullable: true, default: null, comment: null })),
  primaryKey: null,
  uniqueConstraints: [],
  foreignKeys: [],
  indexes: [],
  ...extra,
});
const snap = (...tables: TableSnapshot[]): SchemaSnapshotDoc => ({ version: 1, serverVersion: "15", tables });

test("the first snapshot is summarised as such", () => {
  expect(diffSnapshots(null, snap(table("a", [["id", "int"]])))).toMatchObject({ initial: true, summary: "first snapshot: 1 table" });
});

test("added and dropped tables and columns, type changes, indexes and foreign keys", () => {
  const before = snap(table("a", [["id", "int"], ["x", "text"]]), table("gone", []), table("b", [["id", "int"]], { indexes: [{ name: "b_i", definition: "CREATE INDEX b_i ON b (id)", unique: false, primary: false }] }));
  const after = snap(
    table("a", [["id", "bigint"], ["y", "text"]], { foreignKeys: [{ name: "f", columns: ["id"], references: { schema: "public", table: "b", columns: ["id"] } }] }),
    table("b", [["id", "int"]]),
    table("c", []),
    table("d", []),
    table("e", []),
  );
  const diff = diffSnapshots(before, after);
  expect(diff.tablesAdded).toEqual(["public.c", "public.d", "public.e"]);
  expect(diff.tablesDropped).toEqual(["public.gone"]);
  expect(diff.columnsAdded).toEqual(["public.a.y"]);
  expect(diff.columnsDropped).toEqual(["public.a.x"]);
  expect(diff.columnsChanged).toEqual(["public.a.id: int → bigint"]);
  expect(diff.summary).toBe("3 tables added, 1 table dropped, 1 column added, 1 column dropped, 1 column changed, 1 index dropped, 1 foreign key added");
});

test("no changes", () => {
  const s = snap(table("a", [["id", "int"]]));
  expect(diffSnapshots(s, s).summary).toBe("no changes");
});
