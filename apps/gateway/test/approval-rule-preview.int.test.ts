import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, createApiKey, createUser } from "@portcullis/db/operations";
import { GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * The attack review's t35: an INSERT into a table with a DO ALSO rule that deletes invoice lines. The
 * statement's text and its RETURNING show one row inserted; the preview must also say what the rule
 * deleted (PostgreSQL's per-transaction counters, read before the dry run rolls back), naming the table
 * only when the link shows it.
 */
let world: GatewayWorld;
let gatewayUrl: string;
let target: pg.Client;
const links = { shown: "", hidden: "" };
const keys = { shown: "", hidden: "" };

beforeAll(async () => {
  world = await GatewayWorld.create();
  target = new pg.Client({ connectionString: world.target.url });
  await target.connect();
  await target.query("CREATE TABLE public.rule_probe (id int)");
  await target.query("CREATE RULE rule_probe_r AS ON INSERT TO public.rule_probe DO ALSO DELETE FROM invoice_line WHERE invoice_line_id <= NEW.id");
  // A trigger writing a table the second link hides (a rule would make the policy hide rule_probe there).
  await target.query("CREATE TABLE public.trigger_probe (id int)");
  await target.query("CREATE FUNCTION public.trigger_probe_fn() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN DELETE FROM invoice_line WHERE invoice_line_id <= NEW.id; RETURN NEW; END$$");
  await target.query("CREATE TRIGGER trigger_probe_t AFTER INSERT ON public.trigger_probe FOR EACH ROW EXECUTE FUNCTION public.trigger_probe_fn()");
  gatewayUrl = (await world.startGateway()).url;
  const user = await createUser(world.prisma, { email: `rule-${randomUUID().slice(0, 6)}@example.com` });
  await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
  const limits = { maxRows: 100, statementTimeoutMs: 5000 };
  for (const [name, tables] of [
    ["shown", { rule_probe: { approval: "writes" } }],
    ["hidden", { trigger_probe: { approval: "writes" }, invoice_line: { access: "none" } }],
  ] as const) {
    links[name] = (await world.addLink({ access: "write", tables, limits }, undefined, gatewayUrl)).linkId;
    await world.prisma.linkAccess.create({ data: { linkId: links[name], userId: user.id } });
    keys[name] = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: links[name], userId: user.id, name })).key;
  }
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await world?.close();
});

const insert = async (which: "shown" | "hidden") => {
  const sql = `INSERT INTO ${which === "shown" ? "rule_probe" : "trigger_probe"} VALUES (21)`;
  const answer = await mcpRequest(`${gatewayUrl}/mcp/${links[which]}`, keys[which], "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql } });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the pending arm
  return answer.json.result.structuredContent as Record<string, any>;
};
const lines = async () => Number((await target.query("SELECT count(*)::int AS n FROM invoice_line")).rows[0].n);

describe("the dry run's preview of writes a rule makes", () => {
  it("lists every table changed, says the rule's deletes in the note and the pending message, keeps nothing", async () => {
    const before = await lines();
    const pending = await insert("shown");
    expect(pending.status, JSON.stringify(pending)).toBe("pending_approval");
    expect(pending.preview.affected).toBe(1);
    expect(pending.preview.tablesChanged).toEqual(
      expect.arrayContaining([
        { table: "public.invoice_line", inserted: 0, updated: 0, deleted: 21 },
        { table: "public.rule_probe", inserted: 1, updated: 0, deleted: 0 },
      ]),
    );
    expect(pending.preview.tablesChanged).toHaveLength(2);
    expect(pending.preview.notes).toContain("Through rules or triggers it also deletes 21 rows in public.invoice_line.");
    expect(pending.message).toContain("it also deletes 21 rows in public.invoice_line through rules or triggers");
    expect(await lines()).toBe(before);
    // Once the link hides invoice_line, the stored preview no longer names it.
    const meta = new pg.Client({ connectionString: world.meta.url });
    await meta.connect();
    try {
      const hiding = { access: "write", tables: { rule_probe: { approval: "writes" }, invoice: { access: "none" } }, limits: { maxRows: 100, statementTimeoutMs: 5000 } };
      await meta.query("UPDATE links SET scope = $2 WHERE id = $1", [links.shown, JSON.stringify(hiding)]);
      const read = async () => {
        const answer = await mcpRequest(`${gatewayUrl}/mcp/${links.shown}`, keys.shown, "2026-07-28", "tools/call", { name: "get_write_request", arguments: { requestId: pending.requestId } });
        return JSON.stringify(answer.json.result.structuredContent);
      };
      await waitFor(read, (text) => text.includes("scope changed"), 5_000, 50);
      const stored = await read();
      expect(stored).not.toContain("invoice_line");
      expect(stored).toContain('"affected":1');
    } finally {
      await meta.end();
    }
  });

  it("names a table the link hides (written by a trigger) as another table, and nowhere else", async () => {
    const before = await lines();
    const pending = await insert("hidden");
    expect(pending.status, JSON.stringify(pending)).toBe("pending_approval");
    expect(pending.preview.tablesChanged).toEqual([
      { table: "public.trigger_probe", inserted: 1, updated: 0, deleted: 0 },
      { table: "another table", inserted: 0, updated: 0, deleted: 21 },
    ]);
    expect(pending.message).toContain("it also deletes 21 rows in another table through rules or triggers");
    expect(JSON.stringify(pending)).not.toContain("invoice_line");
    expect(await lines()).toBe(before);
  });
});
