import { createHmac, timingSafeEqual } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type pg from "pg";
import type { AuditExportConfig } from "../src/processors/audit-export.js";

/**
 * A SIEM's webhook receiver, as its documentation tells it to be written: it checks the signature
 * over "<t>.<raw body>" with the sink's secret (refusing a bad one with 401), and keeps each accepted
 * batch. `respond` decides each answer (fail on demand: 500, 429 + Retry-After, 400, a hang).
 */
export interface Receipt {
  at: number;
  status: number;
  key: string;
  seqs: string[];
  lines: Record<string, unknown>[];
}

export interface Receiver {
  url: string;
  port: number;
  secret: string;
  receipts: Receipt[];
  /** Seqs of accepted (2xx) batches, in arrival order. */
  accepted(): string[];
  respond: (req: IncomingMessage, n: number) => { status: number; headers?: Record<string, string> } | "hang";
  close(): Promise<void>;
}

export function verifySignature(secret: string, header: string, body: string): boolean {
  const t = /t=(\d+)/.exec(header)?.[1];
  const v1 = /v1=([0-9a-f]{64})/.exec(header)?.[1];
  if (!t || !v1) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

export async function startReceiver(): Promise<Receiver> {
  const hung: ServerResponse[] = [];
  const state: Receiver = {
    url: "",
    port: 0,
    secret: "",
    receipts: [],
    accepted: () => state.receipts.filter((r) => r.status < 300).flatMap((r) => r.seqs),
    respond: () => ({ status: 200 }),
    close: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      if (!verifySignature(state.secret, String(req.headers["portcullis-signature"] ?? ""), body)) {
        state.receipts.push({ at: Date.now(), status: 401, key: String(req.headers["idempotency-key"]), seqs: [], lines: [] });
        return res.writeHead(401).end("bad signature");
      }
      const answer = state.respond(req, n++);
      if (answer === "hang") {
        hung.push(res);
        return;
      }
      const lines = JSON.parse(body) as Record<string, unknown>[];
      state.receipts.push({ at: Date.now(), status: answer.status, key: String(req.headers["idempotency-key"]), seqs: lines.map((l) => String(l.seq)), lines });
      res.writeHead(answer.status, answer.headers).end(answer.status < 300 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}/siem`;
  return state;
}

/** `n` chained events of a team (seq after the team's head), and the head moved, as the ingester leaves them. */
export async function insertChain(pool: pg.Pool, teamId: string, n: number, opts: { hourSplitAt?: number } = {}): Promise<void> {
  const head = await pool.query<{ s: string; h: string }>("SELECT last_seq::text AS s, last_hash AS h FROM audit_chain_heads WHERE team_id = $1::uuid", [teamId]);
  const from = Number(head.rows[0]?.s ?? 0);
  // hash = md5 chain stand-in: what matters here is that each prev_hash is the previous hash.
  await pool.query(
    `INSERT INTO audit_events (id, team_id, time, seq, tool, sql, verdict, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid,
            CASE WHEN $4::int > 0 AND g > $4::int THEN date_trunc('hour', now()) + interval '1 hour' + g * interval '1 ms' ELSE date_trunc('hour', now()) + g * interval '1 ms' END,
            $2::int8 + g, 'execute_sql', 'SELECT ' || ($2::int8 + g), 'allowed',
            CASE WHEN $2::int8 + g = 1 THEN repeat('0', 64) ELSE md5('e' || ($2::int8 + g - 1)) END, md5('e' || ($2::int8 + g))
       FROM generate_series(1, $3::int) g`,
    [teamId, from, n, opts.hourSplitAt ?? 0],
  );
  await pool.query(
    `INSERT INTO audit_chain_heads (team_id, last_seq, last_hash) VALUES ($1::uuid, $2::int8, md5('e' || $2::int8))
     ON CONFLICT (team_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash`,
    [teamId, from + n],
  );
}

export const seqRange = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/** The exporter's settings for tests: fast retries, loopback receivers allowed, the stack's ports none. */
export function exportTestConfig(over: Partial<AuditExportConfig> = {}): AuditExportConfig {
  return {
    dir: undefined,
    batchEvents: 500,
    fileMaxBytes: 1 << 20,
    timeoutMs: 2000,
    retryBaseMs: 20,
    retryMaxMs: 200,
    pauseAfterMs: 60_000,
    allowPrivate: true,
    stack: [],
    sinksPerTick: 8,
    batchesPerTurn: 20,
    ...over,
  };
}
