/* eslint-disable @typescript-eslint/no-explicit-any -- third-party JSON payloads, read loosely on purpose */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";

/**
 * Third-party AI providers, played by real HTTP servers: OpenAI's chat-completions API and
 * Anthropic's messages API, answering from the prompt the worker sent. Per table, a script of
 * behaviours ("ok", "malformed", "429", "timeout") is consumed one request at a time.
 */
export type Behaviour = "ok" | "malformed" | "429" | "timeout";

export interface FakeAi {
  url: string;
  requests: { table: string; body: any }[];
  script: Map<string, Behaviour[]>;
  close(): Promise<void>;
}

function promptDoc(text: string): any {
  const start = text.indexOf("{");
  return JSON.parse(text.slice(start));
}

function answerFor(doc: any) {
  return {
    table: `Rows of ${doc.table} (fake model).`,
    columns: doc.columns.map((c: { name: string }) => ({ name: c.name, description: `The ${c.name} column (fake model).` })),
  };
}

async function body(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

export async function startFakeAi(kind: "openai" | "anthropic"): Promise<FakeAi> {
  const requests: FakeAi["requests"] = [];
  const script = new Map<string, Behaviour[]>();
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer(async (req, res) => {
    const payload = await body(req);
    const userText: string =
      kind === "openai"
        ? payload.messages.find((m: any) => m.role === "user").content
        : [payload.messages[0].content].flat().map((p: any) => (typeof p === "string" ? p : p.text)).join("");
    const doc = promptDoc(userText);
    requests.push({ table: doc.table, body: payload });
    const behaviour = script.get(doc.table)?.shift() ?? "ok";
    if (behaviour === "timeout") {
      hanging.add(res);
      return; // never answers; the client's timeout must fire
    }
    if (behaviour === "429") {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "0" });
      res.end(JSON.stringify(kind === "openai"
        ? { error: { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" } }
        : { type: "error", error: { type: "rate_limit_error", message: "Number of requests has exceeded your rate limit" } }));
      return;
    }
    const content = behaviour === "malformed" ? '{"table": 42, "columns": "nope"' : JSON.stringify(answerFor(doc));
    res.writeHead(200, { "content-type": "application/json" });
    if (kind === "openai") {
      res.end(JSON.stringify({
        id: "chatcmpl-fake",
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: payload.model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
        usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 },
      }));
    } else {
      // The SDK asks for structured output either through a forced "json" tool or as plain text.
      const tool = payload.tools?.[0]?.name;
      const block =
        tool && behaviour !== "malformed"
          ? { type: "tool_use", id: "toolu_fake", name: tool, input: JSON.parse(content) }
          : { type: "text", text: content };
      res.end(JSON.stringify({
        id: "msg_fake",
        type: "message",
        role: "assistant",
        model: payload.model,
        content: [block],
        stop_reason: block.type === "tool_use" ? "tool_use" : "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 100, output_tokens: 50 },
      }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
