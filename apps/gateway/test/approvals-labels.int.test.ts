import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayWorld } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * A write that needs a decision and runs code (a user function, DO, CALL) writes what the code writes:
 * nobody can list it. Every label says so — the pending message, the preview's command, the functions
 * it calls — and none calls it "DDL on public.invoice" (attack finding 8).
 */
let world: GatewayWorld;
let gatewayUrl: string;
let target: pg.Client;
let admin: { linkId: string; key: string };
const LABEL = "runs code (function call / DO / CALL) whose writes cannot be listed";

beforeAll(async () => {
  world = await GatewayWorld.create();
  target = new pg.Client({ connectionString: world.target.url });
  await target.connect();
  // Before the gateway loads the catalog: a VOLATILE function that writes genre (callable on admin links).
  await target.query("CREATE FUNCTION public.f3_touch() RETURNS int LANGUAGE sql VOLATILE AS $$ UPDATE genre SET name = name || '!' WHERE genre_id = 1 RETURNING 1 $$");
  const started = await world.startGateway();
  gatewayUrl = started.url;
  const limits = { maxRows: 100, statementTimeoutMs: 5000 };
  admin = await world.addLink({ access: "admin", tables: { invoice: { approval: "writes" } }, limits });
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await world?.close();
});

const sql = (link: { linkId: string; key: string }, text: string) =>
  mcpRequest(`${gatewayUrl}/mcp/${link.linkId}`, link.key, "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql: text } });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
const data = (a: Awaited<ReturnType<typeof mcpRequest>>): Record<string, any> => a.json.result.structuredContent;
const rock = async () => (await target.query("SELECT name FROM genre WHERE genre_id = 1")).rows[0].name as string;

describe("a request whose writes cannot be listed", () => {
  it("a user function call: labelled as running code, names the function, not 'DDL'; nothing ran", async () => {
    const answer = await sql(admin, "SELECT public.f3_touch()");
    const p = data(answer);
    expect(p.status, JSON.stringify(p.refusal)).toBe("pending_approval");
    expect(p.preview.command).toBe(LABEL);
    expect(p.preview.table).toBeNull();
    expect(p.preview.notes.join(" ")).toMatch(/It calls public\.f3_touch\(\)/);
    expect(p.preview.functions).toEqual(["public.f3_touch"]);
    expect(p.message).toContain(`this statement ${LABEL}`);
    expect(p.message).toContain("public.f3_touch()");
    const words = String(answer.json.result.content[0].text);
    expect(words).not.toMatch(/\bDDL\b/);
    expect(JSON.stringify(answer.json)).not.toMatch(/"DDL"|DDL on|this DDL/);
    expect(await rock()).toBe("Rock");
    // get_write_request shows the same label.
    const stored = data(await mcpRequest(`${gatewayUrl}/mcp/${admin.linkId}`, admin.key, "2026-07-28", "tools/call", { name: "get_write_request", arguments: { requestId: p.requestId } }));
    expect(stored.preview.command).toBe(LABEL);
  });

  it("a write that also calls the function: the label still says code runs; its own rows are shown", async () => {
    const p = data(await sql(admin, "INSERT INTO genre (genre_id, name) VALUES (9001, public.f3_touch()::text)"));
    expect(p.status).toBe("pending_approval");
    expect(p.preview.command).toBe(LABEL);
    expect(p.preview.notes.join(" ")).toMatch(/INSERT into public\.genre/);
    expect(p.preview.notes.join(" ")).toMatch(/It calls public\.f3_touch\(\)/);
    expect(p.message).toContain(LABEL);
    expect(await rock()).toBe("Rock");
    expect((await target.query("SELECT count(*)::int AS n FROM genre WHERE genre_id = 9001")).rows[0].n).toBe(0);
  });

  it("DO on an admin link: labelled as running code", async () => {
    const p = data(await sql(admin, "DO $$BEGIN UPDATE genre SET name = 'x' WHERE genre_id = 1; END$$"));
    expect(p.status).toBe("pending_approval");
    expect(p.preview.command).toBe(LABEL);
    expect(p.message).toContain(`this statement ${LABEL}`);
    expect(await rock()).toBe("Rock");
  });

  it("replacing a function keeps its DDL label and names the function; nothing is replaced", async () => {
    const text = "CREATE OR REPLACE FUNCTION public.f3_touch() RETURNS int LANGUAGE sql VOLATILE AS $$ UPDATE genre SET name = 'y' RETURNING 1 $$";
    const p = data(await sql(admin, text));
    expect(p.status).toBe("pending_approval");
    expect(p.preview.command).not.toBe(LABEL);
    expect(p.preview.functions).toEqual(["public.f3_touch"]);
    expect(p.preview.notes.join(" ")).toMatch(/creates, changes or drops code that runs later: public\.f3_touch\(\)/);
    expect((await target.query("SELECT prosrc FROM pg_proc WHERE proname = 'f3_touch'")).rows[0].prosrc).toMatch(/name \|\| '!'/);
  });
});
