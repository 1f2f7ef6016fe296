import { randomUUID } from "node:crypto";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { RunningWorker } from "../../worker/src/app.js";
import { startAuditWorker } from "./durability-support.js";
import { GatewayWorld, connectClient, toolJson, waitFor, type LinkFixture } from "./fixtures.js";
import { testRedisUrl } from "@portcullis/db/testing";

/**
 * Issue 13's "one call path": the same statement through MCP (both eras) and through the dashboard's
 * Playground gets the same verdict and leaves exactly one audit row per call, of the same shape, read
 * back from audit_events after the real worker ingested them.
 */
let world: GatewayWorld;
let internal: string;
let link: LinkFixture;
let legacy: Client;
let modern: ClientV2;
let worker: RunningWorker;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  internal = started.internalUrl!;
  link = await world.addLink({ access: "read", schemas: ["public"], tables: { employee: { access: "none" } } }, undefined, started.url);
  legacy = await connectClient(link.url, link.key, "one-path-legacy");
  modern = new ClientV2({ name: "one-path-modern", version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await modern.connect(new TransportV2(new URL(link.url), { requestInit: { headers: { Authorization: `Bearer ${link.key}` } } }));
  worker = await startAuditWorker(world, testRedisUrl());
});
afterAll(async () => {
  await legacy?.close().catch(() => {});
  await modern?.close().catch(() => {});
  await worker?.close().catch(() => {});
  await world?.close();
});

interface Verdict {
  allowed: boolean;
  ruleId?: string;
  failed: boolean;
  rows?: unknown[][];
}

async function viaMcp(client: Client | ClientV2, sql: string): Promise<Verdict> {
  const result = await client.callTool({ name: "execute_sql", arguments: { sql } });
  const s = toolJson<{ status: string; refusal?: { ruleId: string }; rows?: unknown[][] }>(result);
  return { allowed: s.status !== "refused", failed: s.status === "failed", ...(s.refusal ? { ruleId: s.refusal.ruleId } : {}), ...(s.rows ? { rows: s.rows } : {}) };
}

async function viaPlayground(sql: string): Promise<Verdict> {
  const r = await fetch(`${internal}/internal/links/${link.linkId}/playground`, {
    method: "POST",
    headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
    body: JSON.stringify({ sql, userId: world.userId }),
  });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { verdict: { allowed: boolean; ruleId?: string }; result?: { rows: unknown[][] }; error?: string };
  return { allowed: body.verdict.allowed, failed: body.error !== undefined, ...(body.verdict.ruleId ? { ruleId: body.verdict.ruleId } : {}), ...(body.result ? { rows: body.result.rows } : {}) };
}

const SHAPE_FIELDS = ["kind", "tool", "sql", "fingerprint", "tables", "verdict", "rule_id", "reason", "rows", "error", "link_id", "team_id"] as const;
const PER_CALLER_FIELDS = ["client_name", "client_version", "protocol_version", "api_key_id", "user_id"] as const;

test("allowed, refused and failed statements: same verdict on every path, one audit row each, same shape", async () => {
  const marker = randomUUID().slice(0, 8);
  const statements = {
    allowed: `SELECT name FROM genre WHERE genre_id = 1 /* ${marker} */`,
    refused: `DELETE FROM genre /* ${marker} */`,
    hidden: `SELECT * FROM employee /* ${marker} */`,
    failed: `SELECT 1/0 /* ${marker} */`,
  };
  for (const [label, sql] of Object.entries(statements)) {
    const [a, b, c] = [await viaMcp(legacy, sql), await viaMcp(modern, sql), await viaPlayground(sql)];
    expect(a, label).toEqual(c);
    expect(b, label).toEqual(c);
  }
  expect((await viaPlayground(statements.allowed)).rows).toEqual([["Rock"]]);

  const meta = new pg.Client({ connectionString: world.meta.url });
  await meta.connect();
  try {
    const rows = await waitFor(
      async () => (await meta.query(`SELECT * FROM audit_events WHERE sql LIKE '%' || $1 || '%' ORDER BY seq`, [marker])).rows as Record<string, unknown>[],
      (rs) => rs.length >= 4 * 3 + 1,
      60_000,
    );
    // Exactly one row per call: 4 statements × 3 callers, plus the second Playground read.
    expect(rows).toHaveLength(13);
    for (const sql of Object.values(statements)) {
      const mine = rows.filter((r) => r.sql === sql);
      const byCaller = new Map(mine.map((r) => [r.client_name as string, r]));
      expect([...byCaller.keys()].sort(), sql).toEqual(["one-path-legacy", "one-path-modern", "portcullis-playground"]);
      const playground = byCaller.get("portcullis-playground")!;
      for (const r of mine) {
        const pick = (row: Record<string, unknown>) => Object.fromEntries(SHAPE_FIELDS.map((f) => [f, row[f]]));
        expect(pick(r), `${sql} via ${r.client_name}`).toEqual(pick(playground));
        // Every field the Playground fills is filled on the MCP paths too (the one builder).
        const filled = (row: Record<string, unknown>) => Object.keys(row).filter((k) => row[k] !== null && !["trace_id"].includes(k)).sort();
        expect(filled(r), `${sql} via ${r.client_name}`).toEqual(expect.arrayContaining(filled(playground).filter((k) => !PER_CALLER_FIELDS.includes(k as never))));
      }
      expect(byCaller.get("one-path-legacy")!.protocol_version).toBe("2025-11-25");
      expect(byCaller.get("one-path-modern")!.protocol_version).toBe("2026-07-28");
      expect(playground.protocol_version).toBe("playground");
      expect(playground.user_id).toBe(world.userId);
      expect(byCaller.get("one-path-legacy")!.api_key_id).toBe(link.apiKeyId);
    }
  } finally {
    await meta.end();
  }
}, 120_000);
