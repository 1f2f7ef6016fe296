import { expect, test } from "@playwright/test";
import { seedVictimWorld, type VictimWorld } from "../support/victim-world";

/**
 * The schema surfaces of issue 13 — search_objects, the budgeted get_schema, MCP resources — attacked
 * through the running stack's gateway, in both protocol eras, by a member whose link hides two tables
 * of the victim's database (`canary`, `customers`). Hidden means absent: no match, no count, no list
 * entry, no readable URI, no description, and the answers for a hidden table are those for a table
 * that does not exist. The owner's admin link on the same connection is the positive control.
 */
type Era = "2026-07-28" | "2025-11-25";
const ERAS: Era[] = ["2026-07-28", "2025-11-25"];

let w: VictimWorld;
let memberKey: string;
let ownerKey: string;

const gateway = () => (process.env.E2E_GATEWAY_URL ?? "http://localhost:3001").replace(/\/$/, "");

let id = 1;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON-RPC answers of several shapes
async function rpc(linkId: string, key: string, era: Era, method: string, params: Record<string, unknown> = {}): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${key}`, "mcp-protocol-version": era };
  let sent = params;
  if (era === "2026-07-28") {
    headers["mcp-method"] = method;
    const name = method === "tools/call" ? params.name : method === "resources/read" ? params.uri : undefined;
    if (typeof name === "string") headers["mcp-name"] = name;
    sent = { ...params, _meta: { "io.modelcontextprotocol/protocolVersion": era, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "schema-attack", version: "1" } } };
  }
  const response = await fetch(`${gateway()}/mcp/${linkId}`, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: id++, method, params: sent }) });
  const text = await response.text();
  const json = text.startsWith("{") ? text : text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
  return { status: response.status, body: JSON.parse(json), text };
}

const search = (linkId: string, key: string, era: Era, args: Record<string, unknown>) => rpc(linkId, key, era, "tools/call", { name: "search_objects", arguments: args });

/** Words only the hidden tables carry: names, prefixes, column names, the stored description. */
function hiddenWords(): string[] {
  const tag = w.canary; // never in the schema, but must not be matched anywhere either
  return ["canary", "canar", "customers", "customer", "marker", "email", "note", "victim description", "secret", tag];
}

test.beforeAll(async () => {
  w = await seedVictimWorld();
  const { createPrismaClient } = await import("@portcullis/db/client");
  const { createApiKey } = await import("@portcullis/db/operations");
  const prisma = createPrismaClient(process.env.DATABASE_URL!);
  try {
    memberKey = (await createApiKey(prisma, { teamId: w.teamId, linkId: w.readLinkId, userId: w.memberIds.member, name: "schema-attack member" })).key;
    ownerKey = (await createApiKey(prisma, { teamId: w.teamId, linkId: w.linkId, userId: w.ownerId, name: "schema-attack owner" })).key;
  } finally {
    await prisma.$disconnect();
  }
});

for (const era of ERAS) {
  test(`search_objects never matches or counts a hidden table, its columns or its description (${era})`, async () => {
    for (const query of hiddenWords()) {
      for (const kinds of [undefined, ["column"], ["table", "view", "materialized_view", "column", "function"]]) {
        const answer = await search(w.readLinkId, memberKey, era, { query, detail: "definition", ...(kinds ? { kinds } : {}) });
        expect(answer.status).toBe(200);
        expect(answer.body.result.structuredContent, `${query} ${kinds}`).toMatchObject({ status: "ok", results: [], total: 0 });
        // The text echoes only the query itself (inside the untrusted-data boundary: schema text is the database's words).
        const inside = /\n<(untrusted-data-[0-9a-f-]{36})>\n([\s\S]*)\n<\/\1>\n/.exec(answer.body.result.content[0].text)?.[2];
        expect(inside).toBe(`No visible object matches "${query}". Try a shorter word, a column name, or list_tables.`);
      }
    }
    // Positive control: the admin link on the same connection does find them.
    const control = await search(w.linkId, ownerKey, era, { query: "canary", detail: "definition" });
    expect(control.body.result.structuredContent.total).toBe(1);
    expect(control.body.result.structuredContent.results[0].description).toMatch(/^victim description/);
  });

  test(`get_schema and resources show nothing hidden; a hidden URI answers like an absent one (${era})`, async () => {
    const schema = await rpc(w.readLinkId, memberKey, era, "tools/call", { name: "get_schema", arguments: {} });
    expect(schema.body.result.structuredContent.mode).toBe("full");
    expect(schema.text).toMatch(/victim_tbl_/);
    expect(schema.text).not.toMatch(/canary|customers|victim description|CANARY-/i);

    const list = await rpc(w.readLinkId, memberKey, era, "resources/list");
    expect(JSON.stringify(list.body)).not.toMatch(/canary|customers|victim description/i);
    expect(list.body.result.resources.some((r: { name: string }) => r.name.startsWith("public.victim_tbl_"))).toBe(true);

    const uris = ["portcullis://tables/public/canary", "portcullis://tables/public/no_such_table", "portcullis://tables/public/customers", "portcullis://tables/public/%ZZ"];
    const answers = await Promise.all(uris.map((uri) => rpc(w.readLinkId, memberKey, era, "resources/read", { uri })));
    const shapes = answers.map((a, i) => JSON.stringify({ status: a.status, body: { ...a.body, id: 0 } }).replaceAll(uris[i]!, "URI"));
    expect(new Set(shapes).size, shapes.join("\n")).toBe(1);
    expect(answers[0]!.body.error.code).toBe(-32602);
    const control = await rpc(w.linkId, ownerKey, era, "resources/read", { uri: uris[0] });
    expect(control.body.result.contents[0].text).toMatch(/^## canary/m);
  });

  test(`a cursor from the admin link does not page the read link (${era})`, async () => {
    const page = await search(w.linkId, ownerKey, era, { query: "a", limit: 1 });
    const cursor = page.body.result.structuredContent.nextCursor as string;
    expect(cursor).toBeTruthy();
    const replay = await search(w.readLinkId, memberKey, era, { query: "a", limit: 1, cursor });
    expect(replay.body.result.isError).toBe(true);
    expect(replay.body.result.structuredContent).toMatchObject({ status: "failed", failure: { code: "invalid_arguments" } });
  });
}
