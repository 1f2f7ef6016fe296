import { randomUUID } from "node:crypto";
import type { JSONRPCRequest } from "@modelcontextprotocol/server";
import pg from "pg";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { AuditUnavailableError } from "../src/audit/producer.js";
import { runCall } from "../src/calls/run-call.js";
import type { CallContext, LinkRecord } from "../src/context.js";
import type { Gateway } from "../src/gateway.js";
import { serializeMessage } from "../src/http/mcp/respond.js";
import { LinkStore } from "../src/links/link-store.js";
import { answerToolCall } from "../src/mcp/tool-call.js";
import { GatewayWorld, auditEvents, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * The answer is rendered while its audit event is being written, and still leaves only once the event
 * is durable: the real journal's write is held back by a gate, and the call must stay unanswered until
 * it opens; a write that fails after the answer was rendered must turn the answer into the audit error.
 */
let world: GatewayWorld;
let gateway: Gateway;
let metadata: pg.Pool;
let link: LinkRecord;
let fixture: LinkFixture;
let restore: (() => void) | undefined;

beforeAll(async () => {
  world = await GatewayWorld.create();
  ({ gateway } = await world.startGateway());
  metadata = new pg.Pool({ connectionString: world.meta.url, max: 2 });
  fixture = await world.addLink({ access: "read", schemas: ["public"] });
  link = (await new LinkStore(metadata, 60_000, gateway.logger).get(fixture.linkId))!;
});
afterEach(() => {
  restore?.();
  restore = undefined;
});
afterAll(async () => {
  await metadata?.end();
  await world?.close();
});

function ctx(): CallContext {
  return {
    requestId: randomUUID(),
    principal: { kind: "api_key", teamId: link.teamId, linkId: link.id, userId: world.userId, apiKeyId: fixture.apiKeyId, oauthClientId: null, subject: "test", grantedScopes: null, email: null, attributes: {} },
    link,
    clientName: "while-recording-test",
    clientVersion: "1",
    protocolVersion: "2025-11-25",
    traceId: null,
    sourceIp: "127.0.0.1",
  };
}

/** The real durable write runs at once; its result reaches the call only when the gate opens (or fails then). */
function gateDurable(fail = false) {
  const audit = gateway.services.audit;
  const real = audit.recordDurable.bind(audit);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let written = 0;
  audit.recordDurable = async (input) => {
    const id = await real(input);
    written++;
    await gate;
    if (fail) throw new AuditUnavailableError(new Error("disk gone (test)"));
    return id;
  };
  restore = () => (audit.recordDurable = real);
  return { open, written: () => written };
}

/** Whether `p` settles within 200 ms (the gate stays shut meanwhile, so a settled call left early). */
const settled = (p: Promise<unknown>) => Promise.race([p.then(() => true, () => true), new Promise((r) => setTimeout(() => r(false), 200))]);

function toolsCall(sql: string, id = 1): JSONRPCRequest {
  return { jsonrpc: "2.0", id, method: "tools/call", params: { name: "execute_sql", arguments: { sql } } };
}

test("runCall gives the settled outcome to the render before its event is durable, and resolves only after", async () => {
  const gate = gateDurable();
  const seen: string[] = [];
  const call = runCall(gateway.services, ctx(), "execute_sql", { sql: "SELECT 1 AS n /* while-recording */" }, (outcome) => seen.push(outcome.kind));
  await waitFor(async () => seen.length, (n) => n > 0, 10_000, 10);
  expect(await settled(call)).toBe(false);
  // The journal wrote the event, the render ran, and the call is still not answered.
  expect(gate.written()).toBe(1);
  expect(seen).toEqual(["ok"]);
  gate.open();
  const outcome = await call;
  expect(outcome.kind).toBe("ok");
  expect(seen).toEqual(["ok"]);
});

test("a tools/call answer (both eras) waits for the durable write; its wire form is the one rendered after", async () => {
  for (const modern of [false, true]) {
    const gate = gateDurable();
    const marker = `while-recording-${modern ? "modern" : "legacy"}`;
    const answer = answerToolCall(gateway.services, ctx(), toolsCall(`SELECT track_id, name FROM track ORDER BY track_id LIMIT 3 /* ${marker} */`, 7), modern);
    await waitFor(async () => gate.written(), (n) => n > 0, 10_000, 10);
    expect(await settled(answer)).toBe(false);
    gate.open();
    const message = await answer;
    restore!();
    const wire = JSON.parse(serializeMessage(message)) as { id: number; result: { structuredContent: { rows: unknown[] }; content: { text: string }[]; resultType?: string; _meta?: unknown } };
    expect(wire.id).toBe(7);
    expect(wire.result.structuredContent.rows).toEqual([
      [1, "For Those About To Rock (We Salute You)"],
      [2, "Balls to the Wall"],
      [3, "Fast As a Shark"],
    ]);
    // The text holds the same data as structuredContent, inside its boundary.
    const inner = /<(untrusted-data-[0-9a-f-]{36})>\n([\s\S]*)\n<\/\1>/.exec(wire.result.content[0]!.text);
    expect(JSON.parse(inner![2]!)).toEqual(wire.result.structuredContent);
    expect(wire.result.resultType).toBe(modern ? "complete" : undefined);
    expect(wire.result._meta !== undefined).toBe(modern);
    // Exactly one event for the call, on its way to PostgreSQL.
    const events = await waitFor(() => auditEvents(world), (all) => all.some((e) => String(e.sql ?? "").includes(marker)), 20_000, 100);
    expect(events.filter((e) => String(e.sql ?? "").includes(marker))).toHaveLength(1);
  }
});

test("an audit write that fails after the answer was rendered answers the audit error, never the rows", async () => {
  const gate = gateDurable(true);
  const answer = answerToolCall(gateway.services, ctx(), toolsCall("SELECT 42 AS secret_value /* while-recording-fail */", 9), false);
  await waitFor(async () => gate.written(), (n) => n > 0, 10_000, 10);
  expect(await settled(answer)).toBe(false);
  gate.open();
  const message = (await answer) as { id: number; error?: { code: number; data?: unknown }; result?: unknown };
  expect(message.result).toBeUndefined();
  expect(message.error).toMatchObject({ code: -32050, data: { retryable: true } });
  const wire = serializeMessage(message as never);
  expect(wire).not.toContain("42");
  expect(wire).not.toContain("secret_value");
});
