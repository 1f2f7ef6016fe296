import { parseScope } from "@portcullis/policy";
import { describe, expect, test } from "vitest";
import type { LinkRecord, SavedToolRecord } from "../src/context.js";
import { instructionsFor } from "../src/mcp/handlers.js";

/** The 2025 `initialize` instructions name only what the link offers (issue 17: switched-off and curated tools). */

function link(extra: Partial<LinkRecord> = {}): LinkRecord {
  const parsed = parseScope({ access: "read" });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return { id: crypto.randomUUID(), teamId: crypto.randomUUID(), name: "fixture", status: "active", scope: parsed.scope, connection: {} as LinkRecord["connection"], ...extra };
}

const saved: SavedToolRecord = Object.freeze({ id: crypto.randomUUID(), name: "tracks_by_genre", title: null, description: "d", sql: "SELECT $1::text", parameters: [], databaseName: null, connectionId: null });

describe("instructionsFor", () => {
  test("a link with every built-in and one database reads as it always did", () => {
    expect(instructionsFor(link())).toBe(
      'Portcullis gives you SQL access to a PostgreSQL database through the link "fixture". ' +
        "Start with get_schema (or list_tables and describe_table), check get_permissions for what this link may do, " +
        "then run one statement per execute_sql call, with $1-style params for values. Refused statements come back with the reason and what is allowed.",
    );
  });

  test("switched-off tools are not named; curated tools and databases are", () => {
    const first = link({ databaseName: "music" });
    const text = instructionsFor(
      link({ disabledTools: ["execute_sql", "explain_query", "get_schema"], savedTools: [saved], databaseName: "music", databases: [first, link({ databaseName: "billing" })] }),
    );
    expect(text).not.toMatch(/execute_sql|get_schema/);
    expect(text).toContain("Start with list_tables and describe_table and search_objects");
    expect(text).toContain("Curated tools: tracks_by_genre");
    expect(text).toContain("It reaches 2 databases (music, billing): pass database to choose one (default: music).");
  });
});
