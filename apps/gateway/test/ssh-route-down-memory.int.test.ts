import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:net";
import { generateSecretKey, SecretKeyring } from "@portcullis/db/secrets";
import { sealSshSecret } from "@portcullis/db/ssh";
import { forServer, type TargetConnectionRow, type TargetPolicy } from "@portcullis/db/target";
import { startSshd, type TestSshd } from "@portcullis/db/testing/sshd";
import { afterAll, beforeAll, expect, test } from "vitest";
import { TargetPools } from "../src/execution/pools.js";
import { createLogger } from "../src/logger.js";

// Attack round 2, K1: a route that is down was not remembered, so every call and every replica probe
// opened the hops' keys and dialled again. Now a down SSH route is remembered for a few seconds.
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
let bastion: TestSshd; // only for a real client key
let dead: Server; // accepts and hangs up at once: an SSH hop that is down
let dials = 0;
let port = 0;
let pools: TargetPools;

beforeAll(async () => {
  bastion = await startSshd();
  dead = createServer((socket) => {
    dials++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
  port = (dead.address() as { port: number }).port;
  const policy: TargetPolicy = { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(), allowPowerfulRoles: true };
  pools = new TargetPools({ max: 2, idleMs: 60_000, keyring, policy }, createLogger("silent"));
}, 60_000);
afterAll(async () => {
  await pools?.closeAll();
  await new Promise((resolve) => dead?.close(resolve));
  await bastion?.stop();
});

function row(): TargetConnectionRow {
  const id = randomUUID();
  return {
    id,
    host: "db.internal",
    port: 5432,
    database: "d",
    username: "u",
    secretCiphertext: keyring.seal("pw", id).ciphertext,
    sslMode: "disable",
    sslCaCert: null,
    sshHops: [
      {
        position: 0,
        host: "127.0.0.1",
        port,
        username: "tunnel",
        privateKeyCiphertext: sealSshSecret(keyring, id, 0, "key", bastion.clientKeys.ed25519.privateKey),
        passphraseCiphertext: null,
        hostKeySha256: bastion.hostKeyFingerprint,
      },
    ],
  };
}

test("a down SSH route is refused in words and remembered for a few seconds: a burst of calls and replica probes does not redial", async () => {
  const primary = row();
  const replica = forServer(primary, { name: "replica-a", host: "db-replica.internal", port: 5432 });
  await expect(pools.get(primary)).rejects.toMatchObject({ name: "SshConnectError", port });
  await expect(pools.get(replica)).rejects.toMatchObject({ name: "SshConnectError", port });
  const after = dials;
  expect(after).toBeGreaterThanOrEqual(2);
  for (let i = 0; i < 10; i++) {
    await expect(pools.get(primary)).rejects.toMatchObject({ name: "SshConnectError" });
    await expect(pools.get(replica)).rejects.toMatchObject({ name: "SshConnectError" });
  }
  expect(dials).toBe(after);
  // Briefly: once the memory lapses the route is tried again (a recovered bastion is used within seconds).
  await new Promise((r) => setTimeout(r, 3_100));
  await expect(pools.get(primary)).rejects.toMatchObject({ name: "SshConnectError" });
  expect(dials).toBeGreaterThan(after);
}, 60_000);
