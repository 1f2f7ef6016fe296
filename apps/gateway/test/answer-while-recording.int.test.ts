import { randomUUID } from "node:crypto";
import type { JSONRPCRequest } from "@modelcontextprotocol/server";
import pg from "pg";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { AuditUnavailableError, OUTCOME_NOT_RECORDED } from "../src/audit/producer.js";
import { JournalWriteError } from "../src/audit/journal.js";
import { withClient } from "@portcullis/db/testing";
import { runCall } from "../src/calls/run-call.js";
import type { CallContext, LinkRecord } from "../src/context.js";
import type { Gateway } from "../src/gateway.js";
import { serializeMessage } from "../src/http/mcp/respond.js";
import { LinkStore } from "../src/links/link-store.js";
import { answerToolCall } from "../src/mcp/tool-call.js";
import { GatewayWorld, auditEvents, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * An answer leaves only once its call is durably on record. A call that sends a statement journals its
 * intent right before the statement goes out (a write waits for it; a read runs while it is written)
 * and its complete event after, without the answer waiting for that; a call that sends none (schema
 * tools, refusals) renders its answer while its one event is written. The real journal's writes are
 * held back by gates: the call must stay unanswered until they open, and a failed write must turn the
 * answer into the audit error.
 */
let world: GatewayWorld;
let gateway: Gateway;
let metadata: pg.Pool;
let link: LinkRecord;
let fixture: LinkFixture;
let writer: LinkFixture;
let writerLink: LinkRecord;
// Created before the gateway first loads the catalog (a table made later is unknown until it reloads).
const AHEAD_TABLE = `write_ahead_${randomUUID().slice(0, 8)}`;
const AHEAD_FAIL_TABLE = `write_ahead_fail_${randomUUID().slice(0, 8)}`;
let restore: (() => void) | undefined;

beforeAll(async () => {
  world = await GatewayWorld.create();
  await withClient(world.target.url, (c) => c.query(`CREATE TABLE ${AHEAD_TABLE} (id int); CREATE TABLE ${AHEAD_FAIL_TABLE} (id int)`));
  ({ gateway } = await world.startGateway());
  metadata = new pg.Pool({ connectionString: world.meta.url, max: 2 });
  fixture = await world.addLink({ access: "read", schemas: ["public"] });
  writer = await world.addLink({ access: "write", schemas: ["public"] });
  const store = new LinkStore(metadata, 60_000, gateway.logger);
  link = (await store.get(fixture.linkId))!;
  writerLink = (await store.get(writer.linkId))!;
});
afterEach(() => {
  restore?.();
  restore = undefined;
});
afterAll(async () => {
  await metadata?.end();
  await world?.close();
});

function ctx(on: LinkRecord = link, key: LinkFixture = fixture): CallContext {
  return {
    requestId: randomUUID(),
    principal: { kind: "api_key", teamId: on.teamId, linkId: on.id, userId: world.userId, apiKeyId: key.apiKeyId, oauthClientId: null, subject: "test", grantedScopes: null, email: null, attributes: {} },
    link: on,
    clientName: "while-recording-test",
    clientVersion: "1",
    protocolVersion: "2025-11-25",
    traceId: null,
    sourceIp: "127.0.0.1",
  };
}

/** The real durable write runs at once; its result reaches the call only when the gate opens. */
function gateDurable() {
  const audit = gateway.services.audit;
  const real = audit.recordDurable.bind(audit);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let written = 0;
  audit.recordDurable = async (input) => {
    const id = await real(input);
    written++;
    await gate;
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

/**
 * The real intent write runs at once; the call learns it is durable only when the gate opens. `fail`:
 * the intent never reaches the disk (as when the journal cannot write) and the call learns it then.
 */
function gateIntent(fail = false) {
  const audit = gateway.services.audit;
  const real = audit.recordIntent.bind(audit);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let written = 0;
  audit.recordIntent = (input) => {
    written++;
    if (fail) {
      const durable = gate.then(() => Promise.reject(new AuditUnavailableError(new Error("disk gone (test)"))));
      durable.catch(() => {});
      return { id: randomUUID(), time: new Date().toISOString(), durable };
    }
    const intent = real(input);
    return { ...intent, durable: intent.durable.then(() => gate) };
  };
  restore = () => (audit.recordIntent = real);
  return { open, written: () => written };
}

const marked = async (marker: string) => (await auditEvents(world)).filter((e) => String(e.sql ?? "").includes(marker));

test("a call that sends no statement: runCall gives the settled outcome to the render before its event is durable, and resolves only after", async () => {
  const gate = gateDurable();
  const seen: string[] = [];
  const call = runCall(gateway.services, ctx(), "list_tables", {}, (outcome) => seen.push(outcome.kind));
  await waitFor(async () => seen.length, (n) => n > 0, 10_000, 10);
  // The journal wrote the event (the real write: on a loaded machine it may take longer than the
  // 200 ms below, so waited for rather than assumed), the render ran, and the call is still not answered.
  await waitFor(async () => gate.written(), (n) => n > 0, 10_000, 10);
  expect(await settled(call)).toBe(false);
  expect(gate.written()).toBe(1);
  expect(seen).toEqual(["ok"]);
  gate.open();
  const outcome = await call;
  expect(outcome.kind).toBe("ok");
  expect(seen).toEqual(["ok"]);
});

test("a tools/call answer (both eras) waits for its intent to be durable; the one event stored is the complete one", async () => {
  for (const modern of [false, true]) {
    const gate = gateIntent();
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
    // Exactly one event for the call on its way to PostgreSQL: the outcome (rows), never the bare intent.
    const events = await waitFor(() => marked(marker), (all) => all.length > 0, 20_000, 100);
    await new Promise((r) => setTimeout(r, 300));
    expect(await marked(marker)).toHaveLength(1);
    expect(events[0]).toMatchObject({ verdict: "allowed", rows: 3 });
    expect(events[0]!.error ?? null).toBeNull();
  }
});

test("a write runs only once its intent is on disk (write-ahead); its answer follows", async () => {
  const table = AHEAD_TABLE;
  const count = () => withClient(world.target.url, async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number);
  const gate = gateIntent();
  const answer = answerToolCall(gateway.services, ctx(writerLink, writer), toolsCall(`INSERT INTO ${table} VALUES (1)`, 11), false);
  await waitFor(async () => gate.written(), (n) => n > 0, 10_000, 10);
  await new Promise((r) => setTimeout(r, 300));
  // Judged by effect: while its record is not on disk the write has not run.
  expect(await count()).toBe(0);
  expect(await settled(answer)).toBe(false);
  gate.open();
  const message = (await answer) as { result?: { structuredContent?: { status?: string } } };
  expect(message.result?.structuredContent?.status).toBe("ok");
  expect(await count()).toBe(1);
});

test("an intent that cannot be journalled: a read is answered with the audit error, never the rows; a write never runs", async () => {
  const gate = gateIntent(true);
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

  const table = AHEAD_FAIL_TABLE;
  const write = answerToolCall(gateway.services, ctx(writerLink, writer), toolsCall(`INSERT INTO ${table} VALUES (1)`, 12), false);
  const refused = (await write) as { error?: { code: number; message: string; data?: unknown } };
  expect(refused.error).toMatchObject({ code: -32050, data: { retryable: true } });
  expect(refused.error!.message).toMatch(/nothing was run/);
  expect(await withClient(world.target.url, async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n)).toBe(0);
});

test("an outcome that cannot be journalled after the answer left: the intent is shipped as the call's event, saying so", async () => {
  // The journal refuses the next outcome write only (intents still go to disk).
  const journal = (gateway.services.audit as unknown as { journal: { append: (event: unknown, intent?: boolean) => Promise<void> } }).journal;
  const real = journal.append.bind(journal);
  let failed = 0;
  journal.append = (event, intent = false) => {
    if (!intent && failed === 0) {
      failed++;
      return Promise.reject(new JournalWriteError(new Error("disk gone after the answer (test)")));
    }
    return real(event, intent);
  };
  restore = () => (journal.append = real);
  const marker = "outcome-lost";
  const message = (await answerToolCall(gateway.services, ctx(), toolsCall(`SELECT 7 AS n /* ${marker} */`, 13), false)) as { result?: { structuredContent?: { rows?: unknown[] } } };
  // Answered: its intent was on disk before the statement's result came back.
  expect(message.result?.structuredContent?.rows).toEqual([[7]]);
  expect(failed).toBe(1);
  // The segment's re-send ships the intent as the event (after the journal's re-send delay).
  const events = await waitFor(() => marked(marker), (all) => all.length > 0, 30_000, 250);
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ verdict: "allowed", error: OUTCOME_NOT_RECORDED });
  expect(events[0]!.rows ?? null).toBeNull();
}, 40_000);
