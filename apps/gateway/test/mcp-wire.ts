/**
 * Raw JSON-RPC over HTTP to /mcp/{linkId} in either era, measuring the response body's bytes: what a
 * client receives (and a model's context may be asked to hold) for one request.
 */
export type Era = "2026-07-28" | "2025-11-25";

export interface WireAnswer {
  status: number;
  bytes: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests probe arbitrary JSON-RPC shapes
  json: Record<string, any>;
}

let nextId = 1;

export async function mcpRequest(url: string, key: string, era: Era, method: string, params: Record<string, unknown> = {}): Promise<WireAnswer> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    authorization: `Bearer ${key}`,
    "mcp-protocol-version": era,
  };
  let body: Record<string, unknown> = { jsonrpc: "2.0", id: nextId++, method, params };
  if (era === "2026-07-28") {
    headers["mcp-method"] = method;
    const name = method === "tools/call" ? params.name : method === "resources/read" ? params.uri : undefined;
    if (typeof name === "string") headers["mcp-name"] = /^[\x20-\x7e]*$/.test(name) ? name : `=?base64?${Buffer.from(name).toString("base64")}?=`;
    body = {
      ...body,
      params: {
        ...params,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": era,
          "io.modelcontextprotocol/clientCapabilities": {},
          "io.modelcontextprotocol/clientInfo": { name: "wire-bytes", version: "1.0.0" },
        },
      },
    };
  }
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const raw = Buffer.from(await response.arrayBuffer());
  const text = raw.toString("utf8");
  // An SSE answer carries the JSON-RPC message in its data lines.
  const payload = text.startsWith("{") ? text : text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
  return { status: response.status, bytes: raw.length, json: JSON.parse(payload) as Record<string, unknown> };
}

/** A tools/call that must succeed; returns its structuredContent and the bytes on the wire. */
export async function callTool(url: string, key: string, era: Era, name: string, args: Record<string, unknown> = {}) {
  const answer = await mcpRequest(url, key, era, "tools/call", { name, arguments: args });
  if (answer.status !== 200 || !answer.json.result || answer.json.result.isError) {
    throw new Error(`${name} failed: ${answer.status} ${JSON.stringify(answer.json).slice(0, 500)}`);
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each tool's structured result
  return { data: answer.json.result.structuredContent as Record<string, any>, text: String(answer.json.result.content?.[0]?.text ?? ""), bytes: answer.bytes };
}
