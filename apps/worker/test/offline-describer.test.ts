import { readFileSync } from "node:fs";
import { OFFLINE_DESCRIBER_VERSION as SEED_OFFLINE_VERSION } from "@portcullis/db/seed";
import { describe, expect, test } from "vitest";
import { COLUMN_MAX_CHARS, OFFLINE_DESCRIBER_VERSION, offlineDescriber, TABLE_MAX_CHARS, describeOffline, isLookup, junctionOf, words } from "../src/describe/offline-describer.js";
import type { ColumnStats, TableContext, TableDescription } from "../src/describe/types.js";
import { referrersIndex } from "../src/processors/descriptions.js";
import { type SchemaSnapshotDoc, type TableSnapshot, checkExpression, tableKey } from "../src/schema/snapshot.js";

// Chinook as takeSnapshot read it (after ANALYZE), so row estimates are the real ones.
const chinook = JSON.parse(readFileSync(new URL("./fixtures/chinook-snapshot.json", import.meta.url), "utf8")) as SchemaSnapshotDoc;

function describeAll(snapshot: SchemaSnapshotDoc, stats: Record<string, Record<string, ColumnStats>> = {}): Map<string, TableDescription> {
  const index = referrersIndex(snapshot);
  const out = new Map<string, TableDescription>();
  for (const table of snapshot.tables) {
    const key = tableKey(table);
    out.set(key, describeOffline({ table, referencedBy: [], referrers: index.get(key) ?? [], samples: {}, stats: stats[key] ?? {} }));
  }
  return out;
}

const column = (d: TableDescription | undefined, name: string) => d?.columns.find((c) => c.name === name)?.description;

function table(name: string, columns: string[], extra: Partial<TableSnapshot> = {}): TableSnapshot {
  return {
    schema: "public",
    name,
    kind: "table",
    comment: null,
    rowEstimate: null,
    columns: columns.map((c) => ({ name: c, type: c.endsWith("_id") || c === "id" ? "integer" : "text", nullable: true, default: null, comment: null })),
    primaryKey: null,
    uniqueConstraints: [],
    foreignKeys: [],
    indexes: [],
    checks: [],
    ...extra,
  };
}

const fk = (columns: string[], target: string, targetColumns: string[], schema = "public") => ({
  name: `${target}_fk`,
  columns,
  references: { schema, table: target, columns: targetColumns },
});

describe("the offline describer on Chinook", () => {
  const d = describeAll(chinook);

  test("says what a table is and how it joins, not its columns' types", () => {
    expect(d.get("public.album")?.table).toBe("One row per album, about 347 rows. Joins artist via artist_id. Referenced by track.album_id.");
    expect(d.get("public.track")?.table).toBe(
      "One row per track, about 3,503 rows. Joins album via album_id; genre via genre_id; media_type via media_type_id. Referenced by invoice_line.track_id; playlist_track.track_id.",
    );
    expect(column(d.get("public.album"), "title")).toBe("The album's title.");
    expect(column(d.get("public.album"), "artist_id")).toBe("The album's artist. Joins artist.artist_id.");
    expect(column(d.get("public.customer"), "support_rep_id")).toBe("Support rep (an employee). Joins employee.employee_id.");
    expect(column(d.get("public.invoice"), "total")).toBe("The invoice's total, a money amount.");
    expect(column(d.get("public.invoice"), "invoice_date")).toBe("The invoice's date.");
    expect(column(d.get("public.track"), "milliseconds")).toBe("A number of milliseconds.");
    for (const [key, description] of d) {
      const snapshot = chinook.tables.find((t) => tableKey(t) === key)!;
      for (const c of snapshot.columns) {
        expect(column(description, c.name), `${key}.${c.name}`).not.toContain(c.type);
      }
      expect(description.columns.map((c) => c.name)).toEqual(snapshot.columns.map((c) => c.name));
    }
  });

  test("a self-reference (employee.reports_to) is named as one", () => {
    expect(d.get("public.employee")?.table).toContain("reports_to points to another employee (self-reference).");
    expect(column(d.get("public.employee"), "reports_to")).toBe("Reports to (another employee, a self-reference). Joins employee.employee_id.");
    expect(column(d.get("public.employee"), "employee_id")).toBe("Primary key of employee. Referenced by customer.support_rep_id; employee.reports_to.");
  });

  test("a junction table (playlist_track) links its two tables, many-to-many", () => {
    expect(junctionOf(chinook.tables.find((t) => t.name === "playlist_track")!)).not.toBeNull();
    expect(d.get("public.playlist_track")?.table).toBe(
      "Links playlist and track, many-to-many (one row per pair). Joins playlist via playlist_id; track via track_id.",
    );
    expect(column(d.get("public.playlist_track"), "track_id")).toBe("Part of the primary key. Joins track.track_id.");
    // invoice_line also has two foreign keys, but its own data (price, quantity): not a junction.
    expect(junctionOf(chinook.tables.find((t) => t.name === "invoice_line")!)).toBeNull();
  });

  test("small referenced tables with a label are lookups", () => {
    expect(d.get("public.genre")?.table).toBe("Lookup list of genres (25 rows). Referenced by track.genre_id.");
    expect(d.get("public.media_type")?.table).toMatch(/^Lookup list of media types \(5 rows\)/);
    expect(isLookup(chinook.tables.find((t) => t.name === "artist")!, [{ schema: "public", table: "album", columns: ["artist_id"] }])).toBe(false);
  });

  test("stay within the length budget", () => {
    for (const description of d.values()) {
      expect(description.table.length).toBeLessThanOrEqual(TABLE_MAX_CHARS);
      for (const c of description.columns) expect(c.description.length).toBeLessThanOrEqual(COLUMN_MAX_CHARS);
    }
  });

  test("value statistics, when given, list a low-cardinality column's values", () => {
    const withStats = describeAll(chinook, {
      "public.media_type": { name: { nDistinct: 5, commonValues: ["MPEG audio file", "Protected AAC audio file"] } },
      "public.track": { composer: { nDistinct: -1, commonValues: [] } },
    });
    expect(column(withStats.get("public.media_type"), "name")).toBe("The media type's name. Values: 'MPEG audio file', 'Protected AAC audio file' (5 distinct).");
    expect(column(withStats.get("public.track"), "composer")).toBe("The track's composer. Every value distinct.");
    expect(column(d.get("public.media_type"), "name")).toBe("The media type's name.");
  });
});

describe("the offline describer on odd catalogs", () => {
  test("a comment always wins over inference, for tables and columns", () => {
    const t = table("acct", ["id", "bal"], {
      comment: "Ledger accounts of the billing system.",
      primaryKey: ["id"],
    });
    t.columns[1]!.comment = "Balance in cents, updated nightly.";
    const out = describeOffline({ table: t, referencedBy: ["public.entry(acct_id)"], samples: {} });
    expect(out.table).toBe("Ledger accounts of the billing system. Referenced by entry.acct_id.");
    expect(column(out, "bal")).toBe("Balance in cents, updated nightly.");
    const long = "A very long comment. ".repeat(20);
    const cut = describeOffline({ table: { ...t, comment: long }, referencedBy: [], samples: {} });
    expect(cut.table).toBe("A very long comment.");
  });

  test("composite keys and a composite foreign key", () => {
    const line = table("order_line", ["order_id", "line_no", "warehouse_id", "bin_code", "qty"], {
      primaryKey: ["order_id", "line_no"],
      foreignKeys: [fk(["order_id"], "orders", ["id"]), fk(["warehouse_id", "bin_code"], "bin", ["warehouse_id", "code"], "stock")],
      checks: [{ name: "qty_positive", columns: ["qty"], definition: checkExpression("CHECK ((qty > 0))") }],
    });
    const out = describeOffline({ table: line, referencedBy: [], samples: {} });
    expect(out.table).toBe("One row per order line per (order_id, line_no). Joins orders via order_id; stock.bin via (warehouse_id, bin_code).");
    expect(column(out, "order_id")).toBe("Part of the primary key. Joins orders.id.");
    expect(column(out, "line_no")).toBe("Part of the primary key (order_id, line_no).");
    expect(column(out, "bin_code")).toBe("Part of a foreign key to bin. Joins stock.bin.code.");
    expect(column(out, "qty")).toBe("The order line's qty. Check: qty > 0.");
  });

  test("a table with no keys at all says only what its names say", () => {
    const out = describeOffline({
      table: table("event_log", ["created_at", "is_processed", "payload", "customer_id", "contact_email", "size_bytes"], {
        columns: [
          { name: "created_at", type: "timestamp with time zone", nullable: false, default: "now()", comment: null },
          { name: "is_processed", type: "boolean", nullable: false, default: null, comment: null },
          { name: "payload", type: "jsonb", nullable: true, default: null, comment: null },
          { name: "customer_id", type: "bigint", nullable: true, default: null, comment: null },
          { name: "contact_email", type: "text", nullable: true, default: null, comment: null },
          { name: "size_bytes", type: "bigint", nullable: true, default: null, comment: null },
        ],
      }),
      referencedBy: [],
      samples: {},
    });
    expect(out.table).toBe("One row per event log. No primary key.");
    expect(column(out, "created_at")).toBe("When the event log was created. Defaults to the time of insert.");
    expect(column(out, "is_processed")).toBe("Whether the event log is processed.");
    expect(column(out, "payload")).toBe("The event log's payload.");
    expect(column(out, "customer_id")).toBe("Refers to a customer by id (no foreign key declared).");
    expect(column(out, "contact_email")).toBe("The event log's contact e-mail address.");
    expect(column(out, "size_bytes")).toBe("The event log's size, in bytes.");
  });

  test("views, unique columns, and a self-referencing junction", () => {
    const view = describeOffline({ table: table("active_users", ["id"], { kind: "view" }), referencedBy: [], samples: {} });
    expect(view.table).toBe("View active users.");
    const users = table("users", ["id", "handle"], { primaryKey: ["id"], uniqueConstraints: [{ name: "u", columns: ["handle"] }] });
    expect(column(describeOffline({ table: users, referencedBy: [], samples: {} }), "handle")).toBe("The user's handle. Unique.");
    const follows = table("follows", ["follower_id", "followed_id", "created_at"], {
      primaryKey: ["follower_id", "followed_id"],
      foreignKeys: [fk(["follower_id"], "users", ["id"]), fk(["followed_id"], "users", ["id"])],
    });
    expect(describeOffline({ table: follows, referencedBy: [], samples: {} }).table).toBe(
      "Links users to other users, many-to-many. Joins users via follower_id; users via followed_id.",
    );
  });

  test("referencedBy strings from older contexts are read as referrers", () => {
    const out = describeOffline({ table: table("genre", ["id", "name"], { primaryKey: ["id"] }), referencedBy: ["music.track(genre_id)"], samples: {} });
    expect(out.table).toBe("One row per genre. Referenced by music.track.genre_id.");
  });

  test("a hub referenced by hundreds of tables names three and counts the rest, within budget", () => {
    const referrers = Array.from({ length: 250 }, (_, i) => ({ schema: "public", table: `child_table_number_${i}`, columns: ["hub_id"], references: ["id"] }));
    const context: TableContext = { table: table("hub", ["id"], { primaryKey: ["id"] }), referencedBy: [], referrers, samples: {} };
    const out = describeOffline(context);
    expect(out.table).toMatch(/Referenced by child_table_number_0\.hub_id; child_table_number_1\.hub_id; child_table_number_2\.hub_id; and 247 more\.$/);
    expect(column(out, "id")!.length).toBeLessThanOrEqual(COLUMN_MAX_CHARS);
  });

  test("stores its version as the model, the one the demo seed compares with", () => {
    expect(offlineDescriber.model).toBe(OFFLINE_DESCRIBER_VERSION);
    expect(SEED_OFFLINE_VERSION).toBe(OFFLINE_DESCRIBER_VERSION);
  });

  test("is deterministic", () => {
    const ctx = { table: chinook.tables[0]!, referencedBy: [], samples: {} };
    expect(describeOffline(ctx)).toEqual(describeOffline(ctx));
  });

  test("splits identifiers into words", () => {
    expect(words("customerOrderID_v2")).toEqual(["customer", "order", "id", "v2"]);
  });
});

test("a 3,000-table catalog is described quickly and fits a model's context", () => {
  // 3,000 tables in 30 schemas, each with a key, a few columns and foreign keys to earlier tables.
  const tables: TableSnapshot[] = [];
  for (let i = 0; i < 3000; i++) {
    const schema = `app_${i % 30}`;
    const fks = i > 10 ? [fk([`parent_${i % 7}_id`], `entity_${i - 7}`, ["id"], `app_${(i - 7) % 30}`), fk(["owner_id"], "entity_3", ["id"], "app_3")] : [];
    tables.push(
      table(`entity_${i}`, ["id", "name", "created_at", "is_active", "amount", ...fks.map((f) => f.columns[0]!)], {
        schema,
        primaryKey: ["id"],
        rowEstimate: 1000 + i,
        foreignKeys: fks,
      }),
    );
  }
  const snapshot: SchemaSnapshotDoc = { version: 1, serverVersion: "15", tables };
  const started = performance.now();
  const all = describeAll(snapshot);
  const ms = performance.now() - started;
  const chars = [...all.values()].reduce((n, d) => n + d.table.length + d.columns.reduce((m, c) => m + c.description.length, 0), 0);
  const tableChars = [...all.values()].reduce((n, d) => n + d.table.length, 0);
  console.log(`3,000 tables described in ${ms.toFixed(0)} ms; table texts ${tableChars} chars, all texts ${chars} chars`);
  expect(all.size).toBe(3000);
  // Linear in the catalog: a quadratic walk over 3,000 tables would take minutes, not seconds.
  expect(ms).toBeLessThan(5000);
  for (const d of all.values()) {
    expect(d.table.length).toBeLessThanOrEqual(TABLE_MAX_CHARS);
    for (const c of d.columns) expect(c.description.length).toBeLessThanOrEqual(COLUMN_MAX_CHARS);
  }
  // entity_3 is everyone's owner: named three times, the rest counted.
  expect(all.get("app_3.entity_3")?.table).toMatch(/and \d+ more\.$/);
});
