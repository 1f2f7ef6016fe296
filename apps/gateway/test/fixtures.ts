import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { addConnection, createApiKey, createLink, createTeam, createUser, parseTargetUrlForTests } from "./operations.js";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { createChinookDatabase, createMetadataDatabase, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";
import { parseGatewayEnv, type GatewayEnv } from "../src/env.js";
import { createGateway, type Gateway } from "../src/gateway.js";

export interface LinkFixture {
  linkId: string;
  key: string;
  apiKeyId: string;
  teamId: string;
  userId: string;
  url: string;
}

/**
 * A metadata database, a Chinook target, a team with a member and a connection, and helpers to add
 * links and keys and to start gateway instances (port 0, own BullMQ prefix and spool directory).
 */
export class GatewayWorld {
  readonly prisma: PrismaClient;
  readonly secretKeys = generateSecretKey("k1");
  readonly queuePrefix = `gwtest-${randomBytes(4).toString("hex")}`;
  private readonly gateways: Gateway[] = [];
  teamId = "";
  userId = "";
  connectionId = "";
  private constructor(
    readonly meta: TestDatabase,
    readonly target: TestDatabase,
    readonly spoolDir: string,
  ) {
    this.prisma = createPrismaClient(meta.url);
  }

  static async create(options: { target?: TestDatabase } = {}): Promise<GatewayWorld> {
    const [meta, target, spoolDir] = await Promise.all([
      createMetadataDatabase(),
      options.target ? Promise.resolve(options.target) : createChinookDatabase(),
      mkdtemp(path.join(tmpdir(), "gw-spool-")),
    ]);
    const world = new GatewayWorld(meta, target, spoolDir);
    await world.addTeam();
    return world;
  }

  /** A team with an owner and a connection to the target; returns ids (also kept on the world). */
  async addTeam(name = `team-${randomBytes(3).toString("hex")}`, targetUrl = this.target.url) {
    const user = await createUser(this.prisma, { email: `${name}-${randomBytes(3).toString("hex")}@example.com` });
    const team = await createTeam(this.prisma, { name, ownerId: user.id });
    const fields = parseTargetUrlForTests(targetUrl);
    const connection = await addConnection(this.prisma, { teamId: team.id, name: "target", fields, test: false }, getKeyring(this.secretKeys));
    if (!this.teamId) {
      this.teamId = team.id;
      this.userId = user.id;
      this.connectionId = connection.id;
    }
    return { teamId: team.id, userId: user.id, connectionId: connection.id };
  }

  async addLink(
    scope: Record<string, unknown>,
    where: { teamId: string; userId: string; connectionId: string } = { teamId: this.teamId, userId: this.userId, connectionId: this.connectionId },
    gatewayUrl = "",
  ): Promise<LinkFixture> {
    const link = await createLink(this.prisma, {
      teamId: where.teamId,
      connectionId: where.connectionId,
      name: `link-${randomBytes(4).toString("hex")}`,
      scope: scope as never,
    });
    const { key, record } = await createApiKey(this.prisma, { teamId: where.teamId, linkId: link.id, userId: where.userId, name: "test" });
    return { linkId: link.id, key, apiKeyId: record.id, teamId: where.teamId, userId: where.userId, url: `${gatewayUrl}/mcp/${link.id}` };
  }

  env(overrides: Record<string, string> = {}): GatewayEnv {
    return parseGatewayEnv({
      DATABASE_URL: this.meta.url,
      REDIS_URL: testRedisUrl(),
      PORTCULLIS_SECRET_KEYS: this.secretKeys,
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_PUBLIC_URL: "http://localhost:3001",
      WEB_PUBLIC_URL: "http://localhost:3000",
      GATEWAY_AUDIT_SPOOL_DIR: this.spoolDir,
      QUEUE_PREFIX: this.queuePrefix,
      LOG_LEVEL: process.env.GATEWAY_TEST_LOG_LEVEL ?? "silent",
      GATEWAY_INTERNAL_TOKEN: "internal-test-token",
      GATEWAY_INTERNAL_PORT: "0",
      // Test targets live on the loopback test cluster and are reached as its superuser; the target
      // policy itself is tested in target-policy.int.test.ts.
      TARGET_NETWORKS: "any",
      TARGET_ALLOW_POWERFUL_ROLES: "true",
      ...overrides,
    });
  }

  async startGateway(overrides: Record<string, string> = {}): Promise<{ gateway: Gateway; url: string; internalUrl: string | undefined }> {
    const gateway = createGateway(this.env(overrides));
    const url = await gateway.start();
    this.gateways.push(gateway);
    return { gateway, url, internalUrl: gateway.internalUrl };
  }

  async close(): Promise<void> {
    await Promise.all(this.gateways.map((g) => g.stop().catch(() => {})));
    await this.prisma.$disconnect();
    await Promise.all([this.meta.drop(), this.target.drop().catch(() => {}), rm(this.spoolDir, { recursive: true, force: true })]);
  }
}

export async function connectClient(url: string, key: string, name = "vitest-client"): Promise<Client> {
  const client = new Client({ name, version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${key}` } } });
  await client.connect(transport);
  return client;
}

export function toolText(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? "").join("");
}

/** execute_sql's structured result (the ok arm of its outputSchema). */
export interface SqlResult {
  status: "ok";
  columns: { name: string; type: string }[];
  rows: unknown[][];
  rowCount: number;
  truncated: { value: boolean; by?: "rows" | "bytes"; limit?: number; note?: string };
  statementClass: string;
  command?: string;
  affected?: number;
}

/** A tool result's structuredContent (every tool returns one; refusals and failures too, with status). */
export function toolJson<T = SqlResult>(result: unknown): T {
  const structured = (result as { structuredContent?: unknown }).structuredContent;
  if (structured === undefined) throw new Error(`no structuredContent in the tool result: ${toolText(result).slice(0, 500)}`);
  return structured as T;
}

import { Queue } from "bullmq";
import { AUDIT_JOBS, QUEUES, type AuditEvent } from "@portcullis/jobs";

/** Audit events as the worker would receive them: the events of the BullMQ jobs of this world's queue prefix. */
export async function auditEvents(world: GatewayWorld, redisUrl = testRedisUrl()): Promise<(AuditEvent & { jobId: string })[]> {
  const queue = new Queue(QUEUES.audit, { connection: { url: redisUrl }, prefix: world.queuePrefix });
  try {
    const jobs = await queue.getJobs(["wait", "delayed", "prioritized", "active", "completed", "failed"], 0, -1);
    return jobs.flatMap((j) =>
      j.name === AUDIT_JOBS.batch
        ? (j.data as { events: AuditEvent[] }).events.map((e) => ({ ...e, jobId: j.id! }))
        : [{ ...(j.data as AuditEvent), jobId: j.id! }],
    );
  } finally {
    await queue.close();
  }
}

export async function waitFor<T>(fn: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await fn();
  while (!ok(value)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, stepMs));
    value = await fn();
  }
  return value;
}

/** A raw POST to the MCP endpoint (no SDK), for protocol-level tests. */
export async function rawPost(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests probe arbitrary JSON-RPC shapes
  return { status: response.status, headers: response.headers, text, json: json as Record<string, any> };
}

/** MCP 2026-07-28 on the wire, for tests that speak it raw: the per-request envelope and the standard headers. */
export const MODERN = "2026-07-28";

export function modernEnvelope(client: { name: string; version: string } = { name: "vitest", version: "1" }, extra: Record<string, unknown> = {}) {
  return {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": client,
    "io.modelcontextprotocol/clientCapabilities": {},
    ...extra,
  };
}

/** A 2026-07-28 request of `method` with `params` and the envelope. */
export function modernRequest(method: string, params: Record<string, unknown> = {}, id: number | string = 1, meta: Record<string, unknown> = modernEnvelope()) {
  return { jsonrpc: "2.0", id, method, params: { ...params, _meta: meta } };
}

/** execute_sql (or another tool) as a 2026-07-28 tools/call. */
export function modernCall(sql: string, id: number | string = 1, meta: Record<string, unknown> = modernEnvelope(), name = "execute_sql") {
  return modernRequest("tools/call", { name, arguments: { sql } }, id, meta);
}

/** The headers 2026-07-28 requires: version, method and (tools/call, resources/read) name. */
export function modernHeaders(key: string, method: string, name?: string): Record<string, string> {
  return { authorization: `Bearer ${key}`, "mcp-protocol-version": MODERN, "mcp-method": method, ...(name === undefined ? {} : { "mcp-name": name }) };
}
