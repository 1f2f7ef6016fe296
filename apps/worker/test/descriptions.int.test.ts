import { getKeyring } from "@portcullis/db/secrets";
import { addConnection, createLink, createTeam } from "@portcullis/db/operations";
import { parseTargetUrl } from "@portcullis/db/target";
import { createChinookDatabase, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";
import { QUEUES } from "@portcullis/jobs";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { enqueueDescriptions, getDescriptionsStatus } from "../src/enqueue.js";
import { type FakeAi, startFakeAi } from "./fake-ai.js";
import { SECRET_KEYS, createWorkerFixture, waitFor } from "./support.js";

const CHINOOK_TABLES = 11;
let chinook: TestDatabase;
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let connectionId: string;

beforeAll(async () => {
  chinook = await createChinookDatabase();
  fixture = await createWorkerFixture();
  const prisma = fixture.prisma();
  try {
    const team = await createTeam(prisma, { name: "Descriptions" });
    const connection = await addConnection(
      prisma,
      { teamId: team.id, name: "chinook", fields: parseTargetUrl(chinook.url), test: false, sampleValuesOptIn: true },
      getKeyring(SECRET_KEYS),
    );
    connectionId = connection.id;
    // Two links: one hides customer contact columns, the other hides the employee table entirely.
    await createLink(prisma, { teamId: team.id, connectionId, name: "analysts", scope: { access: "read", tables: { customer: { hiddenColumns: ["email", "phone"] } } } });
    await createLink(prisma, { teamId: team.id, connectionId, name: "support", scope: { access: "read", tables: { "public.employee": { access: "none" } } } });
    // A third governs rows and values: nothing of invoice (filtered) or customer.company (masked) is sampled.
    await createLink(prisma, {
      teamId: team.id,
      connectionId,
      name: "governed",
      scope: { access: "read", tables: { invoice: { rowFilter: "billing_country = {{member.attr.country}}" }, customer: { maskedColumns: { company: "hash" } } } },
    });
  } finally {
    await prisma.$disconnect();
  }
  // A description a human wrote: no regeneration may replace it.
  await fixture.pool.query(
    `INSERT INTO schema_descriptions (connection_id, schema_name, table_name, column_name, description, source) VALUES ($1, 'public', 'album', '', 'Written by a person.', 'human')`,
    [connectionId],
  );
});

afterAll(async () => {
  await fixture?.close();
  await chinook?.drop();
});

async function runJob(queue: Queue, tables?: string[]) {
  const id = await enqueueDescriptions(queue, { connectionId, ...(tables ? { tables } : {}) });
  // A final failure shows as "delayed" with a reason: the helper's own BullMQ retries come later.
  return waitFor(
    async () => {
      const status = await getDescriptionsStatus(queue, id);
      return status && (status.state === "completed" || status.state === "failed" || (status.state === "delayed" && status.failedReason)) ? status : undefined;
    },
    60_000,
    "the descriptions job",
    100,
  );
}

function suite(provider: "openai" | "anthropic" | "openai-compatible") {
  const kind = provider === "anthropic" ? "anthropic" : "openai";
  const model = kind === "openai" ? "gpt-test" : "claude-test";
  describe(`descriptions through ${provider} (a fake ${kind} server)`, () => {
    let ai: FakeAi;
    let worker: RunningWorker;
    let queue: Queue;
    const prefix = `${kind}${Math.random().toString(36).slice(2, 8)}`;

    beforeAll(async () => {
      ai = await startFakeAi(kind);
      const env = {
        ...fixture.env,
        QUEUE_PREFIX: prefix,
        AI_PROVIDER: provider,
        AI_MODEL: model,
        OPENAI_API_KEY: "sk-test",
        ANTHROPIC_API_KEY: "sk-ant-test",
        AI_BASE_URL: ai.url,
        AI_TIMEOUT_MS: 700,
        AI_REQUESTS_PER_MINUTE: 60_000,
      } as const;
      worker = await startWorker(env, { schedules: false, metricsServer: false, tableAttempts: 3, retryBaseMs: 20 });
      queue = new Queue(QUEUES.descriptions, { connection: { url: testRedisUrl() }, prefix });
    });

    afterAll(async () => {
      await worker?.close();
      await queue?.obliterate({ force: true }).catch(() => {});
      await queue?.close();
      await ai?.close();
    });

    test("every table is described; a malformed answer, a 429 and a timeout are retried; human edits stay", async () => {
      ai.script.set("public.genre", ["malformed"]);
      ai.script.set("public.media_type", ["429"]);
      ai.script.set("public.playlist", ["timeout"]);
      const status = await runJob(queue);
      expect(status.failedReason).toBeNull();
      expect(status.state).toBe("completed");
      expect(status.progress).toMatchObject({ total: CHINOOK_TABLES, done: CHINOOK_TABLES, source: "ai", model: `${provider}:${model}` });
      const tries = (table: string) => ai.requests.filter((r) => r.table === table).length;
      expect(tries("public.genre")).toBe(2);
      expect(tries("public.media_type")).toBe(2);
      expect(tries("public.playlist")).toBe(2);

      const { rows } = await fixture.pool.query(
        `SELECT table_name, column_name, description, source FROM schema_descriptions WHERE connection_id = $1`,
        [connectionId],
      );
      const find = (table: string, column = "") => rows.find((r) => r.table_name === table && r.column_name === column);
      expect(find("album")).toMatchObject({ description: "Written by a person.", source: "human" });
      expect(find("track", "name")).toMatchObject({ source: "ai", description: "The name column (fake model)." });
      expect(new Set(rows.filter((r) => r.column_name === "").map((r) => r.table_name)).size).toBe(CHINOOK_TABLES);
    }, 60_000);

    test("sample values only from columns no link hides, never from a table a link hides", async () => {
      const customer = ai.requests.find((r) => r.table === "public.customer")!;
      const text = JSON.stringify(customer.body);
      expect(text).toContain("sampleValues");
      expect(text).toMatch(/Gon\\u00e7alves|Gonçalves|Luís|Lu\\u00eds/);
      expect(text).not.toContain("@embraer.com.br");
      expect(text).not.toContain("3923-5555");
      const employee = JSON.stringify(ai.requests.find((r) => r.table === "public.employee")!.body);
      expect(employee).not.toContain("sampleValues");
      expect(employee).not.toMatch(/@chinookcorp\.com/);
      // Row filters and masks (decided on the target's own catalog): a filtered table gives no values,
      // a masked column none, and tables no link governs still give theirs.
      const invoice = JSON.stringify(ai.requests.find((r) => r.table === "public.invoice")!.body);
      expect(invoice).not.toContain("sampleValues");
      expect(invoice).not.toContain("Stuttgart");
      expect(text).not.toContain("Embraer");
      expect(JSON.stringify(ai.requests.find((r) => r.table === "public.album")!.body)).toContain("sampleValues");
    });

    test("a provider that keeps failing fails the job with a clear reason after the retries", async () => {
      ai.script.set("public.artist", ["429", "429", "429"]);
      const limited = await runJob(queue, ["public.artist"]);
      expect(limited.failedReason).toMatch(/public\.artist failed after 3 attempt\(s\): AI provider rate limit \(HTTP 429\)/);
      ai.script.set("public.artist", ["timeout", "timeout", "timeout"]);
      const slow = await runJob(queue, ["public.artist"]);
      expect(slow.failedReason).toMatch(/did not answer within 700 ms/);
      ai.script.set("public.artist", ["malformed", "malformed", "malformed"]);
      const malformed = await runJob(queue, ["public.artist"]);
      expect(malformed.failedReason).toMatch(/not a valid description/);
    }, 60_000);
  });
}

suite("openai");
suite("anthropic");
suite("openai-compatible");
