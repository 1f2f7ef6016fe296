import { createHmac, timingSafeEqual } from "node:crypto";
import { type IncomingHttpHeaders, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createAuditSink, getAuditSink } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { VERIFY_SNIPPET } from "../../web/src/features/audit-export/verify-snippet.js";
import { auditExportProcessor } from "../src/processors/audit-export.js";
import { insertChain } from "./audit-export-support.js";
import { createTeamRow, createWorkerFixture, SECRET_KEYS, waitFor } from "./support.js";

/**
 * The receiver check the sinks page shows, run as written against what a real sink sends: a test
 * delivery, a batch led by a gap record (neither has `seq`: the old snippet threw on BigInt(undefined)),
 * and forged signatures (one of the wrong length: timingSafeEqual throws unless lengths are compared).
 */
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
const keyring = getKeyring(SECRET_KEYS);

type Outcome = { status: number; stored: string[]; gaps: Record<string, unknown>[] };
const check = new Function("createHmac", "timingSafeEqual", "header", "secret", "rawBody", "lastSeq", "store", "onGap", "res", VERIFY_SNIPPET);

function runSnippet(header: string, secret: string, rawBody: string, lastSeq = 0n): Outcome {
  const out: Outcome = { status: 0, stored: [], gaps: [] };
  const res = { status: (s: number) => ({ end: () => void (out.status = s) }) };
  check(createHmac, timingSafeEqual, header, secret, rawBody, lastSeq, (e: { seq: string }) => out.stored.push(e.seq), (g: Record<string, unknown>) => out.gaps.push(g), res);
  return out;
}

beforeAll(async () => {
  fixture = await createWorkerFixture();
}, 60_000);
afterAll(async () => {
  await fixture?.close();
});

test("the page's verification snippet accepts a real test delivery and a real batch with a gap record, and answers 401 (never throws) to forged signatures", async () => {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const team = await createTeamRow(fixture.pool);
    await insertChain(fixture.pool, team, 5);
    // Event 2 deleted behind the exporter's back: the batch is led by a "missing" gap record.
    await fixture.pool.query("DELETE FROM audit_events WHERE team_id = $1 AND seq <= 2", [team]);
    process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/siem`;
    const { sink, secret } = await createAuditSink(fixture.pool, { teamId: team, kind: "webhook", name: "siem", url, via: "cli" }, { keyring });
    await fixture.pool.query("UPDATE audit_sinks SET test_requested_at = now() WHERE id = $1", [sink.id]);
    const tick = auditExportProcessor({
      pool: fixture.pool,
      keyring,
      logger: pino({ level: "silent" }),
      config: { dir: undefined, batchEvents: 500, fileMaxBytes: 1 << 20, timeoutMs: 5000, retryBaseMs: 20, retryMaxMs: 200, pauseAfterMs: 60_000, allowPrivate: true, stack: [], sinksPerTick: 8, batchesPerTurn: 5, holeGraceMs: 10 },
    });
    await waitFor(async () => {
      await tick();
      return (await getAuditSink(fixture.pool, { teamId: team, sinkId: sink.id })).cursorSeq === "5";
    }, 15_000, "the sink past the gap", 20);
    const [testDelivery, batch] = received;
    expect(received).toHaveLength(2);
    const sig = (r: { headers: IncomingHttpHeaders }) => String(r.headers["portcullis-signature"]);

    expect(runSnippet(sig(testDelivery!), secret!, testDelivery!.body)).toEqual({ status: 200, stored: [], gaps: [] });
    const ok = runSnippet(sig(batch!), secret!, batch!.body);
    expect(ok.status).toBe(200);
    expect(ok.stored).toEqual(["3", "4", "5"]);
    expect(ok.gaps).toEqual([expect.objectContaining({ type: "portcullis.audit_gap", from_seq: "1", to_seq: "2", reason: "missing" })]);
    // Dedup by seq on a re-delivery.
    expect(runSnippet(sig(batch!), secret!, batch!.body, 4n).stored).toEqual(["5"]);

    // Forgeries: a short v1, no v1, another secret, an edited body.
    const t = /t=(\d+)/.exec(sig(batch!))![1];
    expect(runSnippet(`t=${t},v1=abcd`, secret!, batch!.body).status).toBe(401);
    expect(runSnippet(`t=${t}`, secret!, batch!.body).status).toBe(401);
    expect(runSnippet(sig(batch!), "not-the-secret", batch!.body).status).toBe(401);
    expect(runSnippet(sig(batch!), secret!, batch!.body.replace('"5"', '"6"')).status).toBe(401);
    expect(runSnippet(sig(batch!), secret!, batch!.body.replace('"5"', '"6"')).stored).toEqual([]);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
