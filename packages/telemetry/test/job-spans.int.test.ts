import { randomBytes } from "node:crypto";
import { Queue, Worker } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { otelEnvironment, shutdownTelemetry, startTelemetry, traceJobs } from "../src/index.js";
import { startOtlpReceiver, type OtlpReceiver } from "../src/testing/index.js";

// The worker's job spans: a real BullMQ worker on the shared test Redis, telemetry exporting to a
// receiver this test runs (this file's process is its own: telemetry is per process).
const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:63809";
const prefix = `otel-jobs-${randomBytes(4).toString("hex")}`;
let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver?.close());

test("a CONSUMER span per job with messaging attributes and error status, plus queue lag and processing metrics", async () => {
  // The exporters read their endpoint from the process environment, as in the apps.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_BSP_SCHEDULE_DELAY = "50";
  expect(startTelemetry({ serviceName: "portcullis-worker", env: otelEnvironment() })).not.toBeNull();
  const queue = new Queue("audit", { connection: { url: redisUrl }, prefix });
  const worker = traceJobs(
    new Worker(
      "audit",
      async (job) => {
        if (job.name === "bad") throw new RangeError("refused by the processor");
      },
      { connection: { url: redisUrl }, prefix },
    ),
    "audit",
  );
  try {
    const good = await queue.add("batch", { events: [{}, {}, {}] });
    const bad = await queue.add("bad", {}, { attempts: 1 });
    await new Promise<void>((resolve) => {
      let done = 0;
      const one = () => ++done === 2 && resolve();
      worker.on("completed", one);
      worker.on("failed", one);
    });
    await shutdownTelemetry();
    const byId = (id: string | undefined) => receiver.spans.find((s) => s.attributes["messaging.message.id"] === id);
    expect(byId(good.id)).toMatchObject({
      name: "process audit",
      kind: 5,
      statusCode: 0,
      attributes: { "messaging.system": "bullmq", "messaging.destination.name": "audit", "messaging.operation.type": "process", "messaging.operation.name": "batch", "messaging.batch.message_count": 3 },
    });
    expect(byId(bad.id)).toMatchObject({ statusCode: 2, attributes: { "error.type": "RangeError" } });
    const metrics = new Set(receiver.points.map((p) => p.metric));
    expect(metrics.has("portcullis.queue.lag")).toBe(true);
    expect(metrics.has("messaging.process.duration")).toBe(true);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
});
