import { describe, expect, test } from "vitest";
import { csvCell, csvLine, jsonLine } from "../src/features/activity/export-format";
import { buildWhere, decodeCursor, encodeCursor, filtersToSearch, likePattern, parseFilters, shapeAnchor } from "../src/features/activity/filters";
import type { AuditRow } from "../src/features/activity/operations";
import { formatSql, tokenizeSql } from "../src/features/activity/sql-format";
import { cleanScope, presetOf, tableKey, toggleSchema, DEFAULT_SCOPE } from "../src/features/links/scope-doc";
import { summarize } from "../src/features/links/summary";
import { describeStatus, snapshotDiff } from "../src/features/schema/format";
import { safeCallbackUrl } from "../src/lib/urls";
import { parseWebEnv } from "../src/lib/env";

const limits = { maxRows: 1000, statementTimeoutMs: 15000 };

describe("scope document helpers", () => {
  test("presets are recognised, and hiding fits every preset", () => {
    expect(presetOf({ access: "read", tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email"] } }, limits })).toBe("read-only");
    expect(presetOf({ access: "read", tables: { invoice: { access: "write" } }, limits })).toBe("read-write");
    expect(presetOf({ access: "admin", tables: { employee: { access: "none" } }, limits })).toBe("full");
    expect(presetOf({ access: "none", tables: { artist: { access: "read" } }, limits })).toBe("custom");
  });

  test("cleanScope drops rules that say nothing and hidden columns of hidden tables", () => {
    const cleaned = cleanScope({
      access: "read",
      tables: { artist: { access: "read" }, customer: { hiddenColumns: [] }, employee: { access: "none", hiddenColumns: ["email"] }, invoice: { hiddenColumns: ["total"] } },
      limits,
    });
    expect(cleaned.tables).toEqual({ employee: { access: "none" }, invoice: { hiddenColumns: ["total"] } });
  });

  test("cleanScope keeps row filters and masks, drops blank filters, masks of hidden columns and rules of hidden tables", () => {
    const cleaned = cleanScope({
      access: "read",
      tables: {
        customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email", phone: "last4" }, hiddenColumns: ["phone"] },
        invoice: { rowFilter: "   " },
        employee: { access: "none", rowFilter: "true", maskedColumns: { email: "hash" } },
      },
      limits,
    });
    expect(cleaned.tables).toEqual({
      customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email" }, hiddenColumns: ["phone"] },
      employee: { access: "none" },
    });
  });

  test("summaries count row filters and masked columns; an unreadable scope says nothing is allowed", () => {
    expect(summarize({ access: "read", tables: { customer: { rowFilter: "country = 'USA'", maskedColumns: { email: "email", company: "hash" } } }, limits })).toBe(
      "Read only · 1 row filter · 2 masked columns · ≤ 1000 rows",
    );
    expect(summarize({ access: "read", tables: { customer: { maskedColumns: { email: "rot13" } } } })).toBe("Unreadable scope (nothing is allowed)");
  });

  test("table keys use the short form for public", () => {
    expect(tableKey("public", "orders")).toBe("orders");
    expect(tableKey("sales", "orders")).toBe("sales.orders");
  });

  test("summaries read like a sentence", () => {
    expect(summarize({ access: "read", tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email", "phone"] } }, limits })).toBe(
      "Read only · 1 hidden table · 2 hidden columns · ≤ 1000 rows",
    );
  });
});

describe("activity filters", () => {
  test("unknown or malformed values are dropped, not trusted", () => {
    const f = parseFilters({ verdict: "maybe", link: "not-a-uuid", range: "forever", q: "customer" });
    expect(f).toEqual({ range: "7d", q: "customer" });
  });

  test("every clause is parameterised and scoped to the team", () => {
    const where = buildWhere("11111111-1111-1111-1111-111111111111", parseFilters({ q: "'; DROP TABLE x; --", verdict: "blocked", tool: "execute_sql" }));
    expect(where.sql.startsWith("team_id = $1::uuid")).toBe(true);
    expect(where.sql).not.toContain("DROP");
    expect(where.params).toContain("%'; DROP TABLE x; --%");
  });

  test("a text search anchors on its longest digit-free run, which every matching statement's shape contains", () => {
    expect(shapeAnchor("email FROM customer WHERE id = 1000")).toBe("email FROM customer WHERE id = ");
    expect(shapeAnchor("id = 1000 LIMIT 25")).toBe(" LIMIT ");
    expect(shapeAnchor("1000")).toBeUndefined();
    expect(shapeAnchor("a.5")).toBeUndefined();
    // The property the search relies on: shape(text) contains the anchor of any substring of text.
    const shape = (text: string) => text.replace(/[0-9]+/g, "?");
    const text = "SELECT t2.name, 1.55 FROM track2 t2 WHERE t2.id IN (10, 200) AND name <> 'Run 4 cover' LIMIT 50";
    for (let i = 0; i < text.length; i++) {
      for (let j = i + 1; j <= text.length; j++) {
        const anchor = shapeAnchor(text.slice(i, j));
        if (anchor) expect(shape(text).includes(anchor), text.slice(i, j)).toBe(true);
      }
    }
  });

  test("the text filter is always rechecked against the real text", () => {
    const where = buildWhere("11111111-1111-1111-1111-111111111111", parseFilters({ q: "customer_id = 42" }));
    expect(where.sql).toContain("shape_hash IN (SELECT");
    expect(where.sql).toContain("sql ILIKE");
    expect(where.params).toContain("%customer\\_id = %");
    expect(where.params).toContain("%customer\\_id = 42%");
    expect(buildWhere("11111111-1111-1111-1111-111111111111", parseFilters({ q: "42" })).sql).not.toContain("shape_hash");
  });

  test("LIKE wildcards in the search are literal", () => {
    expect(likePattern("100%_done\\")).toBe("%100\\%\\_done\\\\%");
  });

  test("cursors round-trip and reject garbage", () => {
    const time = new Date("2026-11-24T05:00:00.123Z");
    const id = "22222222-2222-2222-2222-222222222222";
    expect(decodeCursor(encodeCursor(time, id))).toEqual({ time, id });
    expect(decodeCursor("garbage")).toBeNull();
    expect(decodeCursor(Buffer.from("2026-01-01|1 OR 1=1").toString("base64url"))).toBeNull();
  });

  test("the default range stays out of URLs", () => {
    expect(filtersToSearch({ range: "7d", verdict: "blocked" })).toBe("?verdict=blocked");
  });
});

describe("exports", () => {
  const row: AuditRow = {
    id: "33333333-3333-3333-3333-333333333333",
    time: new Date("2026-11-24T05:00:00Z"),
    link_id: null, api_key_id: null, oauth_client_id: null, user_id: null, client_name: "cursor", client_version: "1.0",
    tool: "execute_sql", sql: 'SELECT "a,b"\nFROM t', tables: ["public.t"], verdict: "blocked", rule_id: "undefined_column",
    reason: "=HYPERLINK(\"http://evil\")", duration_ms: 1.5, rows: null, bytes: null, error: null, source_ip: "127.0.0.1", kind: "tool_call", detail: null,
    protocol_version: "2026-07-28", trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    database_name: null, target_server: null,
  };

  test("CSV quotes commas, quotes and newlines, and defuses spreadsheet formulas", () => {
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
    expect(csvCell("=1+1")).toBe("'=1+1");
    expect(csvCell(null)).toBe("");
    const line = csvLine(row);
    expect(line.endsWith("\r\n")).toBe(true);
    expect(line).toContain(`"SELECT ""a,b""\nFROM t"`);
    expect(line).toContain(`"'=HYPERLINK(""http://evil"")"`);
  });

  test("JSON lines are one object per line", () => {
    const parsed = JSON.parse(jsonLine(row));
    expect(parsed).toMatchObject({ id: row.id, verdict: "blocked", tables: ["public.t"], time: "2026-11-24T05:00:00.000Z" });
  });
});

describe("SQL formatting", () => {
  test("breaks before clauses without touching strings", () => {
    const sql = "select a, 'from x where' as s from t left join u on u.id = t.id where a > 1 order by a";
    expect(formatSql(sql)).toBe("select a, 'from x where' as s\nfrom t\nleft join u on u.id = t.id\nwhere a > 1\norder by a");
  });

  test("tokens cover the text exactly", () => {
    const sql = "SELECT $1, 'it''s', \"Col\" -- c\nFROM t /* x */";
    expect(tokenizeSql(sql).map((t) => t.text).join("")).toBe(sql);
  });
});

describe("redirects", () => {
  test("only same-site paths are followed", () => {
    expect(safeCallbackUrl("/t/acme")).toBe("/t/acme");
    expect(safeCallbackUrl("https://evil.example")).toBe("/");
    expect(safeCallbackUrl("//evil.example")).toBe("/");
    expect(safeCallbackUrl("/\\evil.example")).toBe("/");
  });
});

describe("toggleSchema", () => {
  const all = ["public", "sales", "staff"];
  test("writes the explicit list when a schema is hidden, and goes back to 'every schema' when all are shown", () => {
    const hidden = toggleSchema(DEFAULT_SCOPE, all, "staff");
    expect(hidden.schemas).toEqual(["public", "sales"]);
    const shown = toggleSchema(hidden, all, "staff");
    expect(shown).not.toHaveProperty("schemas");
    expect(shown.tables).toEqual(DEFAULT_SCOPE.tables);
  });
  test("never hides the last visible schema", () => {
    const onlyPublic = { ...DEFAULT_SCOPE, schemas: ["public"] };
    expect(toggleSchema(onlyPublic, all, "public")).toBe(onlyPublic);
  });
  test("survives cleanScope (the document the gateway enforces keeps the list)", () => {
    expect(cleanScope(toggleSchema(DEFAULT_SCOPE, all, "sales")).schemas).toEqual(["public", "staff"]);
  });
});

describe("schema page formatting", () => {
  const progress = { total: 11, done: 7, current: "public.track", completed: [], source: "heuristic" as const, model: null };
  test("descriptions progress names the table being described", () => {
    expect(describeStatus({ state: "active", progress, failedReason: null, attemptsMade: 0 })).toBe("Describing public.track (7/11)…");
    expect(describeStatus({ state: "active", progress: { ...progress, lastError: "HTTP 429" }, failedReason: null, attemptsMade: 0 })).toContain("retrying: HTTP 429");
    expect(describeStatus({ state: "completed", progress: { ...progress, done: 11, current: null }, failedReason: null, attemptsMade: 1 })).toMatch(/^Described 11 of 11 tables/);
    expect(describeStatus({ state: "failed", progress, failedReason: "AI provider rate limit", attemptsMade: 3 })).toBe("AI provider rate limit");
    expect(describeStatus(null)).toMatch(/waiting for the worker/);
  });
  test("the snapshot diff is read defensively and lists what changed", () => {
    expect(snapshotDiff(null)).toBeNull();
    expect(snapshotDiff({ tablesAdded: ["x"] })).toBeNull();
    const diff = snapshotDiff({ initial: false, summary: "1 table added, 1 column dropped", tablesAdded: ["public.a"], columnsDropped: ["public.b.c"], indexesAdded: [] });
    expect(diff).toEqual({ initial: false, summary: "1 table added, 1 column dropped", changes: [{ label: "Tables added", items: ["public.a"] }, { label: "Columns dropped", items: ["public.b.c"] }] });
    expect(snapshotDiff({ initial: true, summary: "first snapshot: 11 tables", tablesAdded: ["public.a"] })?.changes).toEqual([]);
  });
});

describe("settings", () => {
  const base = { DATABASE_URL: "postgresql://app@127.0.0.1:5432/portcullis", PORTCULLIS_SECRET_KEYS: "k1:x", NEXTAUTH_SECRET: "0123456789abcdef0123" };

  test("the Playground's internal URL follows the gateway's internal port, never the public one", () => {
    expect(parseWebEnv(base).gatewayInternalUrl).toBe("http://127.0.0.1:3003");
    // A stack on other ports: the internal token goes to that port, not to whatever holds 3003.
    expect(parseWebEnv({ ...base, GATEWAY_INTERNAL_PORT: "3204", GATEWAY_PUBLIC_URL: "http://localhost:3202" }).gatewayInternalUrl).toBe("http://127.0.0.1:3204");
    expect(parseWebEnv({ ...base, GATEWAY_INTERNAL_URL: "http://gw.internal:9000/" }).gatewayInternalUrl).toBe("http://gw.internal:9000");
  });

  test("reads the gateway's readiness from GATEWAY_HEALTH_URL, else from its public URL", () => {
    expect(parseWebEnv({ ...base, GATEWAY_PUBLIC_URL: "https://mcp.example.com/" }).gatewayHealthUrl).toBe("https://mcp.example.com");
    expect(parseWebEnv({ ...base, GATEWAY_PUBLIC_URL: "https://mcp.example.com", GATEWAY_HEALTH_URL: "http://gateway:3001/" }).gatewayHealthUrl).toBe("http://gateway:3001");
    expect(() => parseWebEnv({ ...base, GATEWAY_HEALTH_URL: "gateway:3001" })).toThrow(/GATEWAY_HEALTH_URL/);
  });
});
