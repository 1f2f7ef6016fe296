import { readFile } from "node:fs/promises";
import { request } from "node:http";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it holds; throws after `timeoutMs` (bounded, like every loop here). */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests probe arbitrary JSON-RPC shapes
  json: Record<string, any> | undefined;
}

/**
 * A POST on a connection of its own (no keep-alive): node:cluster hands out connections, not requests,
 * so only fresh connections show which process takes what.
 */
export function postFresh(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent: false,
        timeout: 30_000,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "content-length": Buffer.byteLength(payload),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          let json: Reply["json"];
          try {
            json = JSON.parse(text) as Reply["json"];
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: h, text, json });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out after 30 s")));
    req.on("error", reject);
    req.end(payload);
  });
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json: Reply["json"];
  try {
    json = JSON.parse(text) as Reply["json"];
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * One execute_sql call: 2026-07-28 (stateless, envelope in _meta, Mcp-Method/Mcp-Name headers) when
 * `modern`, else 2025-11-25 (with `session` as Mcp-Session-Id when given).
 */
export function callOnce(
  url: string,
  key: string,
  sql: string,
  options: { modern?: boolean; session?: string; requestId?: string; fresh?: boolean } = {},
): Promise<Reply> {
  const send = options.fresh ? postFresh : post;
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (options.requestId) headers["x-request-id"] = options.requestId;
  const id = options.requestId ?? 1;
  if (options.modern) {
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "scale-out", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": {},
    };
    Object.assign(headers, {
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": "execute_sql",
    });
    return send(
      url,
      {
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "execute_sql", arguments: { sql }, _meta: meta },
      },
      headers,
    );
  }
  headers["mcp-protocol-version"] = "2025-11-25";
  if (options.session) headers["mcp-session-id"] = options.session;
  return send(
    url,
    { jsonrpc: "2.0", id, method: "tools/call", params: { name: "execute_sql", arguments: { sql } } },
    headers,
  );
}

/** The sum of every series of a metric in Prometheus text (all label sets). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** Child pids of `pid` (Linux /proc): a cluster primary's gateway processes. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/** GET on a connection of its own (see postFresh): the body text and status. */
export function getFresh(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timed out after 15 s")));
    req.on("error", reject);
    req.end();
  });
}

/** Removes a test's BullMQ keys (`prefix:*`) from the shared test Redis; bounded. */
export async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const { createRedis } = await import("../../packages/jobs/src/index.js");
  const redis = createRedis(redisUrl, "producer");
  try {
    // A producer connection queues nothing while connecting: wait until it is ready.
    await new Promise((resolve) => (redis.status === "ready" ? resolve(null) : redis.once("ready", resolve)));
    for (let cursor = "0", n = 0; n < 10_000; n++) {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
      if (cursor === "0") break;
    }
  } finally {
    await redis.quit();
  }
}
