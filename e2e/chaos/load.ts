import { randomBytes } from "node:crypto";

/** What the gateway must record for a statement: the verdict its audit row has to carry. */
export type Expected = "allowed" | "blocked" | "error";

/** One HTTP attempt: a JSON-RPC tools/call with its own X-Request-Id and a statement used once. */
export interface Attempt {
  requestId: string;
  sql: string;
  expected: Expected;
  gateway: string;
  /** What the test was doing to the parts when the attempt was sent. */
  phase: string;
  /** answered: the gateway sent a JSON-RPC result; failed: anything else. */
  outcome: "answered" | "failed";
  /** For answers: the tool result's isError (a refusal and a database error are results too). */
  isError?: boolean;
  /** For failures: what the client saw (an HTTP status, a JSON-RPC error code or a socket error). */
  errorKind?: string;
  retryable?: boolean;
  detail?: string;
  echoedRequestId?: string | null;
  ms: number;
}

/** Socket-level failures a client behind a load balancer retries on another instance. */
const RETRYABLE_SOCKET = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);
/** HTTP statuses that say "not now, try again" (RFC 9110 §15.6; 429 with Retry-After). */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/** JSON-RPC errors the gateway documents as retryable: AUDIT_UNAVAILABLE_CODE (apps/gateway/src/mcp/server.ts). */
const RETRYABLE_JSONRPC = new Set([-32050]);

export interface LoadOptions {
  gateways: string[];
  linkId: string;
  key: string;
  clients: number;
  /** Per-client pacing: at most one call every this many ms (clients × 1000 / period = calls/s). */
  periodMs: number;
  /** How long a logical call keeps being retried before the client gives up (ms). */
  retryForMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A steady load of unique calls from a few concurrent clients. Each logical call goes to the next
 * gateway in turn; a retryable failure is retried on the other gateway as a new call (new request id,
 * new statement), as a client behind a load balancer would. Mostly allowed reads carrying a unique
 * literal, one in ten a write the read link refuses, one in ten a division by zero.
 */
export class Load {
  readonly run = randomBytes(4).toString("hex");
  readonly attempts: Attempt[] = [];
  /** Set by the test as it moves from one kill to the next; stamped on every attempt. */
  phase = "steady";
  /** Logical calls still failing after retrying for `retryForMs`. */
  gaveUp = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: LoadOptions) {}

  start(): void {
    this.loops = Array.from({ length: this.options.clients }, (_, c) => this.client(c));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private statement(requestId: string, n: number): { sql: string; expected: Expected } {
    switch (n % 10) {
      case 3:
        return { sql: `DELETE FROM genre WHERE name = '${requestId}'`, expected: "blocked" };
      case 7:
        return { sql: `SELECT 1 / (${n} - ${n}) AS boom, '${requestId}' AS call`, expected: "error" };
      default:
        return { sql: `SELECT '${requestId}' AS call, name FROM genre WHERE genre_id = ${1 + (n % 25)}`, expected: "allowed" };
    }
  }

  private async client(c: number): Promise<void> {
    const { gateways, periodMs } = this.options;
    const retryForMs = this.options.retryForMs ?? 30_000;
    for (let n = 0; !this.stopping; n++) {
      const started = Date.now();
      let g = (n + c) % gateways.length;
      for (let attempt = 0; ; attempt++) {
        const requestId = `chaos-${this.run}-${c}-${n}-${attempt}`;
        const result = await this.call(gateways[g]!, requestId, this.statement(requestId, n));
        this.attempts.push(result);
        if (result.outcome === "answered" || !result.retryable) break;
        if (Date.now() - started > retryForMs) {
          this.gaveUp++;
          break;
        }
        g = (g + 1) % gateways.length;
        await sleep(100 + Math.random() * 150);
      }
      await sleep(Math.max(0, periodMs - (Date.now() - started)));
    }
  }

  private async call(gateway: string, requestId: string, { sql, expected }: { sql: string; expected: Expected }): Promise<Attempt> {
    const started = performance.now();
    const base = { requestId, sql, expected, gateway, phase: this.phase };
    const body = JSON.stringify({ jsonrpc: "2.0", id: requestId, method: "tools/call", params: { name: "execute_sql", arguments: { sql } } });
    try {
      const response = await fetch(`${gateway}/mcp/${this.options.linkId}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-11-25",
          authorization: `Bearer ${this.options.key}`,
          "x-request-id": requestId,
        },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      const ms = performance.now() - started;
      const echoedRequestId = response.headers.get("x-request-id");
      if (response.status !== 200) {
        return {
          ...base,
          outcome: "failed",
          errorKind: `HTTP ${response.status}`,
          retryable: RETRYABLE_STATUS.has(response.status),
          detail: `${response.headers.get("retry-after") ? `retry-after ${response.headers.get("retry-after")}; ` : ""}${text.slice(0, 200)}`,
          echoedRequestId,
          ms,
        };
      }
      const json = JSON.parse(text) as { id?: unknown; result?: { isError?: boolean }; error?: { code: number; message: string } };
      if (json.result && json.id === requestId) return { ...base, outcome: "answered", isError: json.result.isError === true, echoedRequestId, ms };
      const code = json.error?.code;
      return { ...base, outcome: "failed", errorKind: `JSON-RPC ${code ?? "no result"}`, retryable: code !== undefined && RETRYABLE_JSONRPC.has(code), detail: text.slice(0, 200), echoedRequestId, ms };
    } catch (error) {
      const ms = performance.now() - started;
      const err = error as Error & { cause?: { code?: string; message?: string } };
      if (err.name === "TimeoutError") return { ...base, outcome: "failed", errorKind: "client timeout (30 s)", retryable: true, detail: err.message, ms };
      const code = err.cause?.code ?? err.name;
      return { ...base, outcome: "failed", errorKind: code, retryable: RETRYABLE_SOCKET.has(code), detail: err.cause?.message ?? err.message, ms };
    }
  }
}
