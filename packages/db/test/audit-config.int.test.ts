import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { ingestAuditBatch, readConfigOutbox, recordConfigChange, redactSecrets, verifyAuditChain } from "../src/audit/index.js";
import { auditSuiteDatabase } from "./support/audit-suite.js";

const suite = auditSuiteDatabase(4);
const team = () => suite.team();
let prisma: PrismaClient;
beforeAll(() => {
  prisma = createPrismaClient(suite.db.url);
});
afterAll(async () => {
  await prisma?.$disconnect();
});

describe("configuration changes in the audit chain", () => {
  test("the record commits and rolls back with the change it records", async () => {
    const t = await team();
    await prisma.$transaction(async (tx) => {
      await tx.team.update({ where: { id: t }, data: { auditRetentionDays: 30 } });
      await recordConfigChange(tx, { teamId: t, action: "team.retention.update", target: { type: "team", id: t }, before: { auditRetentionDays: 90 }, after: { auditRetentionDays: 30 } });
    });
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.team.update({ where: { id: t }, data: { auditRetentionDays: 1 } });
        await recordConfigChange(tx, { teamId: t, action: "team.retention.update", target: { type: "team", id: t }, before: { auditRetentionDays: 30 }, after: { auditRetentionDays: 1 } });
        throw new Error("the change fails after its record was written");
      }),
    ).rejects.toThrow("the change fails");
    const outbox = (await readConfigOutbox(suite.pool)).map((r) => JSON.parse(r.event)).filter((e) => e.teamId === t);
    expect(outbox).toHaveLength(1);
    expect(JSON.parse(outbox[0].detail)).toMatchObject({ action: "team.retention.update", after: { auditRetentionDays: 30 } });
    expect((await prisma.team.findUniqueOrThrow({ where: { id: t } })).auditRetentionDays).toBe(30);

    // Into the chain as the worker moves it: stored with its detail, and the chain commits to the detail.
    expect(await ingestAuditBatch(suite.pool, outbox)).toMatchObject({ inserted: 1 });
    const { rows } = await suite.pool.query(`SELECT kind, tool, detail FROM audit_events WHERE team_id = $1`, [t]);
    expect(rows).toEqual([{ kind: "config_change", tool: "team.retention.update", detail: outbox[0].detail }]);
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: true, checked: 1 });
    await suite.pool.query(`UPDATE audit_events SET detail = replace(detail, '30', '3000') WHERE team_id = $1`, [t]);
    expect(await verifyAuditChain(suite.pool, t)).toMatchObject({ ok: false, firstBroken: { reason: expect.stringContaining("edited") } });
  });

  test("secrets never reach before/after", () => {
    const redacted = redactSecrets({
      name: "prod",
      password: "hunter2",
      passwordCiphertext: "v1:abc",
      url: "postgresql://app:s3cret@db:5432/x",
      nested: [{ keyHash: "deadbeef", token: "t", apiKey: "pc_live_x", prefix: "pc_live_ab" }],
      note: "nul\u0000byte",
    });
    const text = JSON.stringify(redacted);
    for (const secret of ["hunter2", "v1:abc", "s3cret", "deadbeef", "pc_live_x", "\\u0000"]) expect(text).not.toContain(secret);
    expect(redacted).toMatchObject({ name: "prod", url: "postgresql://app:[redacted]@db:5432/x", nested: [{ prefix: "pc_live_ab" }] });
  });

  test("a malformed change is refused before anything is written", async () => {
    const t = await team();
    await expect(
      prisma.$transaction((tx) => recordConfigChange(tx, { teamId: { not: t } as unknown as string, action: "x", target: { type: "team", id: t } })),
    ).rejects.toThrow();
    expect((await readConfigOutbox(suite.pool)).filter((r) => r.event.includes(t))).toHaveLength(0);
  });
});
