import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  auditSinkSecretContext,
  createAuditSink,
  deleteAuditSink,
  pauseAuditSink,
  reencryptAuditSinkSecrets,
  requestAuditSinkTest,
  resumeAuditSink,
  rotateAuditSinkSecret,
} from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";

/**
 * Audit sinks at the data layer, on real PostgreSQL: another team's sink id in every operation is
 * not_found with nothing changed (rows and audit outbox), and `secrets reencrypt` re-seals sink
 * secrets under the new primary key (the secret still opens, bound to its team and sink).
 */
const k1 = generateSecretKey("k1");
const keyring = SecretKeyring.parse(k1);
let meta: TestDatabase;
let pool: pg.Pool;
let teamA: string;
let teamB: string;

const snapshot = async () => JSON.stringify([(await pool.query("SELECT * FROM audit_sinks ORDER BY id")).rows, (await pool.query("SELECT count(*)::int AS n FROM audit_outbox")).rows]);

beforeAll(async () => {
  meta = await createMetadataDatabase();
  pool = new pg.Pool({ connectionString: meta.url, max: 3 });
  const team = async (name: string) => (await pool.query<{ id: string }>("INSERT INTO teams (name, slug) VALUES ($1, $1) RETURNING id::text AS id", [name])).rows[0]!.id;
  teamA = await team("sinks-a");
  teamB = await team("sinks-b");
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await meta?.drop();
});

it("another team's sink id, in every operation, is not found and changes nothing", async () => {
  const { sink } = await createAuditSink(pool, { teamId: teamB, kind: "webhook", name: "theirs", url: "https://siem.example.com/b", via: "cli" }, { keyring });
  const before = await snapshot();
  const input = { teamId: teamA, sinkId: sink.id, via: "cli" as const };
  for (const run of [pauseAuditSink, resumeAuditSink, deleteAuditSink, requestAuditSinkTest, (db: pg.Pool, i: typeof input) => rotateAuditSinkSecret(db, i, { keyring })]) {
    await expect(run(pool, input)).rejects.toMatchObject({ code: "not_found" });
  }
  // Operator objects where an id belongs are refused before any query.
  await expect(pauseAuditSink(pool, { teamId: teamA, sinkId: { not: sink.id } } as never)).rejects.toMatchObject({ code: "invalid_input" });
  expect(await snapshot()).toBe(before);
});

it("secrets reencrypt re-seals sink secrets under the new primary key", async () => {
  const { sink, secret } = await createAuditSink(pool, { teamId: teamA, kind: "webhook", name: "splunk", url: "https://siem.example.com/a", via: "cli" }, { keyring });
  const next = SecretKeyring.parse(`${generateSecretKey("k2")},${k1}`);
  const result = await reencryptAuditSinkSecrets(pool, next);
  expect(result.reencrypted).toBeGreaterThanOrEqual(1);
  expect(result.remaining).toBe(0);
  const row = (await pool.query("SELECT secret_key_id, secret_ciphertext FROM audit_sinks WHERE id = $1", [sink.id])).rows[0];
  expect(row.secret_key_id).toBe("k2");
  expect(next.open(row.secret_ciphertext, auditSinkSecretContext(teamA, sink.id))).toBe(secret);
  // Bound to its sink: the same ciphertext does not open as another sink's.
  expect(() => next.open(row.secret_ciphertext, auditSinkSecretContext(teamB, sink.id))).toThrow();
});
