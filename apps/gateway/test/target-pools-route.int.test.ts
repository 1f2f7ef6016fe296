import { randomUUID } from "node:crypto";
import { generateSecretKey, SecretKeyring } from "@portcullis/db/secrets";
import { sealSshSecret } from "@portcullis/db/ssh";
import { forServer, parseTargetUrl, type TargetConnectionRow, type TargetPolicy } from "@portcullis/db/target";
import { testPgUrl, withClient } from "@portcullis/db/testing";
import { startSshd, type TestSshd } from "@portcullis/db/testing/sshd";
import { afterAll, beforeAll, expect, test } from "vitest";
import { TargetPools } from "../src/execution/pools.js";
import { createLogger } from "../src/logger.js";

// Pools per connection AND server (a replica never shares the primary's sessions), each owning its
// route: closing a connection closes every server's pool and every SSH chain.
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const t = parseTargetUrl(testPgUrl());
let bastion: TestSshd;
let pools: TargetPools;
let count = 0;

beforeAll(async () => {
  bastion = await startSshd();
  const policy: TargetPolicy = { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(), allowPowerfulRoles: true };
  pools = new TargetPools({ max: 2, idleMs: 60_000, keyring, policy, onCountChange: (n) => (count = n) }, createLogger("silent"));
}, 60_000);
afterAll(async () => {
  await pools?.closeAll();
  await bastion?.stop();
});

function row(hostKey = bastion.hostKeyFingerprint): TargetConnectionRow {
  const id = randomUUID();
  return {
    id,
    host: t.host,
    port: t.port,
    database: t.database,
    username: t.username,
    secretCiphertext: keyring.seal(t.password, id).ciphertext,
    sslMode: "disable",
    sslCaCert: null,
    sshHops: [
      {
        position: 0,
        host: bastion.host,
        port: bastion.port,
        username: bastion.username,
        privateKeyCiphertext: sealSshSecret(keyring, id, 0, "key", bastion.clientKeys.ed25519.privateKey),
        passphraseCiphertext: null,
        hostKeySha256: hostKey,
      },
    ],
  };
}

const backends = (application: string) =>
  withClient(testPgUrl(), async (c) => Number((await c.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [application])).rows[0].n));

async function settle(fn: () => Promise<number>, want: number): Promise<number> {
  for (let i = 0; i < 100 && (await fn()) !== want; i++) await new Promise((r) => setTimeout(r, 50));
  return fn();
}

test("a replica (forServer) gets its own pool and route; close(connectionId) ends every server's pool and chain", async () => {
  const primary = row();
  const application = `pools-${primary.id.slice(0, 8)}`;
  // Same id (so the same secrets), the replica's own host and port — here the same server, which is
  // what makes "a separate pool" observable: only the key can tell them apart.
  const replica = forServer(primary, { name: "replica-a", host: t.host, port: t.port });
  const [p1, p2] = await Promise.all([pools.get(primary), pools.get(replica)]);
  expect(p1).not.toBe(p2);
  expect(count).toBe(2);
  // The same row objects again: the same pools (the hot path).
  expect(await pools.get(primary)).toBe(p1);
  expect(await pools.get(replica)).toBe(p2);
  await Promise.all([p1.query(`SET application_name = '${application}'`), p2.query(`SET application_name = '${application}'`)]);
  expect(await bastion.connections()).toBe(2);
  pools.close(primary.id);
  expect(count).toBe(0);
  expect(await settle(() => bastion.connections(), 0)).toBe(0);
  expect(await settle(() => backends(application), 0)).toBe(0);
});

test("a re-pinned host key (an edited hop) gets a new pool and the old chain is closed", async () => {
  const first = row();
  const pool = await pools.get(first);
  await pool.query("SELECT 1");
  expect(await bastion.connections()).toBe(1);
  // The same connection, its hop's confirmed key spelled differently (a new row object, as a reload gives).
  const edited: TargetConnectionRow = { ...first, sshHops: first.sshHops!.map((h) => ({ ...h, hostKeySha256: `${bastion.hostKeyFingerprint}=` })) };
  const next = await pools.get(edited);
  expect(next).not.toBe(pool);
  expect((await next.query("SELECT 2 AS n")).rows).toEqual([{ n: 2 }]);
  expect(await settle(() => bastion.connections(), 1)).toBe(1);
  // A hop whose key no longer matches cannot be reached at all, and is not remembered as a refusal.
  const wrong: TargetConnectionRow = { ...first, sshHops: first.sshHops!.map((h) => ({ ...h, hostKeySha256: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })) };
  await expect(pools.get(wrong)).rejects.toMatchObject({ name: "SshHostKeyError", offered: bastion.hostKeyFingerprint });
  expect(await settle(() => bastion.connections(), 0)).toBe(0);
  // Remembered briefly: a burst of calls does not dial the bastion again for each one.
  const dialled = () => (bastion.log().match(/Connection from 127\.0\.0\.1/g) ?? []).length;
  const before = dialled();
  for (let i = 0; i < 5; i++) await expect(pools.get(wrong)).rejects.toMatchObject({ name: "SshHostKeyError" });
  expect(dialled()).toBe(before);
  pools.close(first.id);
});
