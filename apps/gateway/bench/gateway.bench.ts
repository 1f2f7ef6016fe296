/**
 * `pnpm bench` (gateway part): the agent mix (agent-mix.ts — schema calls, joins, aggregates, windows,
 * CTEs, 1,000-row results, ~10% statements a read-only server must refuse; no statement text twice)
 * sent, call for call the same, to
 *   - the gateway with auth + policy + audit (into real Redis/BullMQ, a worker ingesting): raw JSON-RPC
 *     on 2025-11-25 and on 2026-07-28, the SDK 1.x client and the v2 SDK client on 2026-07-28;
 *   - DBHub 1.4 on Node 24, read-only, max_rows 1000 (its search_objects for the schema calls): raw, SDK;
 *   - the ceiling (HTTP + the statement through pg, nothing else; schema calls as SQL): raw, SDK;
 *   - pg directly.
 * The gateway and the ceiling run on this process's Node and again on Node 24 (targets ending in -24:
 * DBHub's runtime and the container image's), so every ratio can be read runtime for runtime.
 * Rounds with the order rotated; per target and round: p50/p99 of sequential calls, calls/s with 16
 * concurrent clients, server CPU per call, machine load and steal. Exits non-zero when a target errors on
 * more than 1% of the calls that should return rows, or when the gateway runs a statement it must refuse.
 * Needs TEST_PG_URL / TEST_REDIS_URL (scripts/bench.sh starts the test services).
 * BENCH_RUNS (5), BENCH_SEQUENTIAL (600), BENCH_THROUGHPUT_MS (2500), BENCH_TARGETS, BENCH_SEED (1).
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Queue } from "bullmq";
import { createPrismaClient } from "@portcullis/db/client";
import { addConnection, createApiKey, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import { createChinookDatabase, createMetadataDatabase, testRedisUrl } from "@portcullis/db/testing";
import { QUEUES } from "@portcullis/jobs";
import { LITERAL_SPACE } from "./agent-mix.js";
import type { TargetSpec } from "./clients.js";
import { machineTimes, measure, setupClients, startLoadProcess, tellAll, CONCURRENCY, SEQUENTIAL_CALLS, THROUGHPUT_MS, type Measurement } from "./measure.js";
import { totals } from "./outcomes.js";
import { printIssueTargets, printMachine, printOutcomes, printTable, MAX_ERROR_SHARE } from "./report.js";
import { NODE24, startCeiling, startDbhub, startGateway, startWorker } from "./servers.js";

// Many short rounds with the order rotated, rather than one long stretch per target: the machine is
// shared (2 cores), and background load then falls on every target alike.
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 3000);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const CLIENT_PROCESSES = Number(process.env.BENCH_CLIENT_PROCESSES ?? 2);
const DEFAULT_TARGETS = "pg,gateway-raw,gateway-modern-raw,gateway-sdk,gateway-modern-sdk,dbhub-raw,dbhub-sdk,bare-raw,bare-sdk,gateway-raw-24,gateway-modern-raw-24,bare-raw-24";

async function main(): Promise<number> {
  const children: ChildProcess[] = [];
  const [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  const workDir = await mkdtemp(path.join(tmpdir(), "gw-bench-"));
  const queuePrefix = `bench-${randomBytes(4).toString("hex")}`;
  const prisma = createPrismaClient(meta.url);
  const secretKeys = generateSecretKey("k1");
  const machineStart = await machineTimes();
  try {
    const user = await createUser(prisma, { email: `bench-${randomBytes(3).toString("hex")}@example.com` });
    const team = await createTeam(prisma, { name: "bench", ownerId: user.id });
    const fields = { ...parseTargetUrl(chinook.url), sslMode: "disable" as const };
    const connection = await addConnection(prisma, { teamId: team.id, name: "chinook", fields, test: false }, getKeyring(secretKeys));
    // maxRows equal to DBHub's max_rows, so a 1,000-row result costs both the same.
    const link = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "bench", scope: { access: "read", schemas: ["public"], limits: { maxRows: 1000, statementTimeoutMs: 15000 } } });
    const { key } = await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name: "bench" });

    const env = { metaUrl: meta.url, secretKeys, spoolDir: path.join(workDir, "spool"), queuePrefix };
    const keys = (process.env.BENCH_TARGETS ?? DEFAULT_TARGETS).split(",").map((t) => t.trim());
    const wants = (prefix: string, suffix = "") => keys.some((k) => k.startsWith(prefix) && k.endsWith(suffix));
    // The same gateway and ceiling on Node 24 as well: DBHub's runtime and the container image's
    // (Dockerfile), so the issue's ratios are also taken runtime for runtime.
    const has24 = existsSync(NODE24);
    const gateway = await startGateway(env, link.id, children);
    const gateway24 = has24 && wants("gateway", "-24") ? await startGateway(env, link.id, children, NODE24) : undefined;
    if (process.env.BENCH_WORKER !== "0") await startWorker(env, children);
    const dbhub = await startDbhub(chinook.url, workDir, children);
    const ceiling = await startCeiling(chinook.url, children);
    const ceiling24 = has24 && wants("bare", "-24") ? await startCeiling(chinook.url, children, NODE24) : undefined;
    console.log(`DBHub runs on Node ${dbhub.node}; the gateway and the ceiling on ${gateway.node}${gateway24 ? ` and ${gateway24.node} (targets …-24)` : ""}; agent mix seed ${SEED}`);

    const bearer = { authorization: `Bearer ${key}` };
    const all: Record<string, TargetSpec & { pid?: number }> = {
      pg: { kind: "pg", name: "direct pg", url: chinook.url, seed: SEED },
      "gateway-raw": { kind: "raw", name: "gateway, raw 2025-11-25", url: gateway.url, headers: bearer, dialect: "gateway", seed: SEED, pid: gateway.child.pid },
      "gateway-modern-raw": { kind: "raw", era: "modern", name: "gateway, raw 2026-07-28", url: gateway.url, headers: bearer, dialect: "gateway", seed: SEED, pid: gateway.child.pid },
      "gateway-sdk": { kind: "sdk", name: "gateway, SDK 1.x client", url: gateway.url, headers: bearer, dialect: "gateway", seed: SEED, pid: gateway.child.pid },
      "gateway-modern-sdk": { kind: "sdk", era: "modern", name: "gateway, SDK v2 on 2026-07-28", url: gateway.url, headers: bearer, dialect: "gateway", seed: SEED, pid: gateway.child.pid },
      "dbhub-raw": { kind: "raw", name: "DBHub 1.4, raw 2025-11-25", url: dbhub.url, headers: {}, dialect: "dbhub", seed: SEED, pid: dbhub.child.pid },
      "dbhub-sdk": { kind: "sdk", name: "DBHub 1.4, SDK 1.x client", url: dbhub.url, headers: {}, dialect: "dbhub", seed: SEED, pid: dbhub.child.pid },
      "bare-raw": { kind: "raw", name: "ceiling (HTTP + pg), raw", url: ceiling.url, headers: {}, dialect: "sql", seed: SEED, pid: ceiling.child.pid },
      "bare-sdk": { kind: "sdk", name: "ceiling (HTTP + pg), SDK 1.x", url: ceiling.url, headers: {}, dialect: "sql", seed: SEED, pid: ceiling.child.pid },
      ...(gateway24 && {
        "gateway-raw-24": { kind: "raw", name: "gateway on Node 24, raw 2025-11-25", url: gateway24.url, headers: bearer, dialect: "gateway", seed: SEED, pid: gateway24.child.pid },
        "gateway-modern-raw-24": { kind: "raw", era: "modern", name: "gateway on Node 24, raw 2026-07-28", url: gateway24.url, headers: bearer, dialect: "gateway", seed: SEED, pid: gateway24.child.pid },
      }),
      ...(ceiling24 && {
        "bare-raw-24": { kind: "raw", name: "ceiling on Node 24, raw", url: ceiling24.url, headers: {}, dialect: "sql", seed: SEED, pid: ceiling24.child.pid },
      }),
    };
    // Each target its own literals (the same shapes in the same order): the gateway's four client kinds
    // share one process, and a statement text one of them already sent would be answered from the
    // verdict cache — every gateway row after the first in a round measured warm.
    // Each target its share of the mix's literal space: far more calls than a run sends per target, so
    // no text repeats within a target or across targets.
    const share = Math.floor(LITERAL_SPACE / Object.keys(all).length);
    Object.values(all).forEach((spec, n) => (spec.literals = n * share));
    for (const k of keys) if (!all[k]) throw new Error(`unknown bench target ${k} (known: ${Object.keys(all).join(", ")})`);
    const targets = keys.map((k) => ({ key: k, name: all[k]!.name }));
    const names = new Map(targets.map((t) => [t.key, t.name]));

    const loaders = Array.from({ length: Math.max(1, CLIENT_PROCESSES) }, () => startLoadProcess());
    children.push(...loaders.map((l) => l.child));

    // Every target first serves a stretch of the concurrent load unmeasured (block 0 of the mix): a fresh
    // server process otherwise spends its first measured round compiling its hot path.
    for (const { key } of targets) {
      await setupClients(loaders, all[key]!, 0);
      await tellAll(loaders, { cmd: "run", deadline: Date.now() + WARMUP_MS });
      await tellAll(loaders, { cmd: "teardown" });
    }

    const results = new Map<string, Measurement[]>(targets.map((t) => [t.key, []]));
    for (let run = 0; run < RUNS; run++) {
      // Rotate the order so no target always runs on a warmer (or hotter) machine.
      const order = targets.map((_, i) => targets[(i + run) % targets.length]!);
      const round: { name: string; ms: Measurement[] }[] = [];
      for (const target of order) {
        const m = await measure(all[target.key]!, loaders, run + 1, all[target.key]!.pid);
        results.get(target.key)!.push(m);
        round.push({ name: target.name, ms: [m] });
      }
      printTable(`Round ${run + 1} of ${RUNS}`, round);
    }

    console.log(`\n${SEQUENTIAL_CALLS} sequential calls, then ${CONCURRENCY} concurrent clients (${loaders.length} processes) for ${THROUGHPUT_MS / 1000} s, per target and round; the same calls for every target`);
    printTable(`Medians of ${RUNS} rounds`, targets.map((t) => ({ name: t.name, ms: results.get(t.key)! })));
    const failed = printOutcomes(targets, results);
    printIssueTargets(results, names);

    // Every gateway call is audited: the events the worker has written by now (it may still be ingesting).
    const gatewayCalls = targets.filter((t) => t.key.startsWith("gateway")).reduce((n, t) => n + results.get(t.key)!.reduce((a, m) => a + totals(m.outcomes).calls, 0), 0);
    const [{ count: audited }] = await prisma.$queryRawUnsafe<[{ count: bigint }]>("SELECT count(*) AS count FROM audit_events");
    const queue = new Queue(QUEUES.audit, { connection: { url: testRedisUrl() }, prefix: queuePrefix });
    const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized");
    console.log(`\naudit: ${audited} events written by the worker, ${Object.values(counts).reduce((a, b) => a + b, 0)} jobs still queued; the gateway served ${gatewayCalls} measured calls (plus warm-up calls)`);
    await queue.obliterate({ force: true });
    await queue.close();

    const machineEnd = await machineTimes();
    await printMachine(machineEnd.total > machineStart.total ? (100 * (machineEnd.steal - machineStart.steal)) / (machineEnd.total - machineStart.total) : undefined);

    // A target that mostly answers errors would look fast: such a run measures nothing.
    let status = 0;
    if (failed.length) {
      console.error(`\nFAILED: more than ${MAX_ERROR_SHARE * 100}% of the calls that should return rows errored on: ${failed.join("; ")}`);
      status = 1;
    }
    const ran = targets.filter((t) => t.key.startsWith("gateway")).map((t) => results.get(t.key)!.reduce((n, m) => n + (m.outcomes.refused?.ran ?? 0), 0));
    if (ran.some((n) => n > 0)) {
      console.error(`\nFAILED: the gateway ran ${ran.reduce((a, b) => a + b, 0)} statements a read link must refuse`);
      status = 1;
    }
    return status;
  } finally {
    // Load processes leave on request (so a --cpu-prof passed through BENCH_CLIENT_NODE_ARGS is written).
    for (const child of children) {
      if (child.connected) child.send({ cmd: "exit" });
      else child.kill("SIGTERM");
    }
    await new Promise((r) => setTimeout(r, 500));
    await prisma.$disconnect();
    // A shared test cluster can hold DROP DATABASE for minutes (seen: waiting on ProcSignalBarrier): the
    // numbers are printed by now, so the run ends and says so rather than hang.
    const dropped = Promise.all([meta.drop(), chinook.drop(), rm(workDir, { recursive: true, force: true })]);
    const late = await Promise.race([dropped.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 30_000).unref())]);
    if (late) console.error(`bench databases not dropped within 30 s (left to the test cluster): ${meta.url}, ${chinook.url}`);
  }
}

const status = await main();
// exit() rather than exitCode: a database drop still waiting on the shared cluster must not hold the run.
process.exit(status);
