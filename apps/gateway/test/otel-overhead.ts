/**
 * OpenTelemetry's cost on the gateway (issue 16 point 3), by hand: `node --import tsx
 * apps/gateway/test/otel-overhead.ts` with TEST_PG_URL / TEST_REDIS_URL set (scripts/test-services.sh).
 * Three gateway processes over one metadata database and Chinook: telemetry off, on (exporting traces
 * and metrics over OTLP/protobuf to a receiver in this process), on + SQLCommenter. Rounds alternate the
 * three (a shared 2-core machine: background load falls on all alike); per round and gateway,
 * OTEL_BENCH_CALLS sequential execute_sql calls over raw 2026-07-28 JSON-RPC, literals varying so no text
 * repeats. Prints medians over rounds of p50 / p99 latency and gateway CPU per call.
 */
import { readFile } from "node:fs/promises";
import { startOtlpReceiver } from "@portcullis/telemetry/testing";
import { GatewayWorld, modernCall, modernHeaders } from "./fixtures.js";
import { spawnTracedGateway } from "./otel-support.js";

const ROUNDS = Number(process.env.OTEL_BENCH_ROUNDS ?? 5);
const CALLS = Number(process.env.OTEL_BENCH_CALLS ?? 300);
const TICKS_PER_SECOND = 100;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

async function main(): Promise<void> {
  const [world, receiver] = await Promise.all([GatewayWorld.create(), startOtlpReceiver()]);
  const configs: [string, Record<string, string>][] = [
    ["off", {}],
    ["otel on", { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }],
    ["metrics only", { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: "none" }],
    ["otel + sqlcommenter", { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, PORTCULLIS_SQLCOMMENTER: "1" }],
  ];
  const gateways: { name: string; gw: Awaited<ReturnType<typeof spawnTracedGateway>> }[] = [];
  try {
    await measureAll(world, receiver, configs, gateways);
  } finally {
    // Never leave a gateway behind, whatever failed.
    await Promise.all(gateways.map(({ gw }) => gw.stop()));
    await Promise.all([world.close(), receiver.close()]);
  }
}

async function measureAll(
  world: GatewayWorld,
  receiver: Awaited<ReturnType<typeof startOtlpReceiver>>,
  configs: [string, Record<string, string>][],
  gateways: { name: string; gw: Awaited<ReturnType<typeof spawnTracedGateway>> }[],
): Promise<void> {
  // The per-key rate limit (1,200/min by default) would refuse a measurement this long.
  const env = world.env({ GATEWAY_RATE_LIMIT_PER_MINUTE: "1000000" });
  for (const [name, extra] of configs) gateways.push({ name, gw: await spawnTracedGateway(env, extra) });
  const link = await world.addLink({ access: "read", limits: { maxRows: 1000, statementTimeoutMs: 15000 } });
  const results = new Map<string, { p50: number[]; p99: number[]; cpu: number[] }>(configs.map(([n]) => [n, { p50: [], p99: [], cpu: [] }]));
  let literal = 0;
  const call = async (url: string, id: number) => {
    const sql = `SELECT t.name, a.title FROM track t JOIN album a USING (album_id) WHERE t.track_id > ${literal++ % 3000} ORDER BY t.track_id LIMIT 20`;
    const response = await fetch(`${url}/mcp/${link.linkId}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...modernHeaders(link.key, "tools/call", "execute_sql") },
      body: JSON.stringify(modernCall(sql, id)),
    });
    const text = await response.text();
    if (response.status !== 200 || text.includes('"isError":true')) throw new Error(`call failed: ${response.status} ${text.slice(0, 300)}`);
  };
  // Warm-up: pools, catalogs, JIT.
  for (const { gw } of gateways) for (let i = 0; i < 100; i++) await call(gw.url, i);
  for (let round = 0; round < ROUNDS; round++) {
    const order = [...gateways.slice(round % gateways.length), ...gateways.slice(0, round % gateways.length)];
    for (const { name, gw } of order) {
      const latencies: number[] = [];
      const cpuBefore = await cpuSeconds(gw.child.pid!);
      for (let i = 0; i < CALLS; i++) {
        const started = performance.now();
        await call(gw.url, i);
        latencies.push(performance.now() - started);
      }
      const cpu = (await cpuSeconds(gw.child.pid!)) - cpuBefore;
      const r = results.get(name)!;
      r.p50.push(pct(latencies, 0.5));
      r.p99.push(pct(latencies, 0.99));
      r.cpu.push((cpu / CALLS) * 1000);
    }
  }
  console.log(`${ROUNDS} rounds x ${CALLS} sequential calls per gateway; medians over rounds`);
  console.log("gateway                 p50 ms   p99 ms   CPU ms/call");
  for (const [name, r] of results) console.log(`${name.padEnd(22)} ${median(r.p50).toFixed(3).padStart(7)} ${median(r.p99).toFixed(3).padStart(8)} ${median(r.cpu).toFixed(3).padStart(12)}`);
  console.log(`spans received: ${receiver.spans.length}, metric points: ${receiver.points.length}`);
}

await main();
