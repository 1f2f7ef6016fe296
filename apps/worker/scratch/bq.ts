import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
const url = process.env.TEST_REDIS_URL!;
const prefix = "exp" + Date.now();
const N = 50000;
const conn = new Redis(url, { maxRetriesPerRequest: null });
const q = new Queue("a", { connection: conn, prefix });
const t0 = Date.now();
for (let i = 0; i < N; i += 1000) {
  await q.addBulk(Array.from({ length: 1000 }, (_, j) => ({ name: "e", data: { id: i + j, sql: "select * from foo where x = 1", teamId: "abc" }, opts: { jobId: "e" + (i + j), removeOnComplete: true } })));
}
console.log("added", N, Date.now() - t0, "ms");
let done = 0;
const t1 = Date.now();
const conc = Number(process.env.CONC ?? 500);
const auto = process.env.AUTO === "1";
const workers = Array.from({ length: Number(process.env.W ?? 1) }, () => new Worker("a", async () => { done++; }, { connection: new Redis(url, { maxRetriesPerRequest: null, enableAutoPipelining: auto }), prefix, concurrency: conc, removeOnComplete: { count: 0 } }));
await new Promise<void>((r) => { const t = setInterval(() => { if (done >= N) { clearInterval(t); r(); } }, 50); });
const ms = Date.now() - t1;
console.log("processed", N, ms, "ms", Math.round(N / (ms / 1000)), "/s");
await Promise.all(workers.map((w) => w.close()));
await q.obliterate({ force: true }); await q.close(); conn.disconnect();
