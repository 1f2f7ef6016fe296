import { randomUUID } from "node:crypto";
import { generateSecretKey, SecretKeyring } from "@portcullis/db/secrets";
import { sealSshSecret } from "@portcullis/db/ssh";
import { parseTargetUrl, type TargetConnectionRow, type TargetPolicy } from "@portcullis/db/target";
import { createChinookDatabase, type TestDatabase } from "@portcullis/db/testing";
import { startSshd, type TestSshd } from "@portcullis/db/testing/sshd";
import { afterAll, beforeAll, expect, test } from "vitest";
import { TargetPools } from "../src/execution/pools.js";
import { createLogger } from "../src/logger.js";

// What a tunnel costs a statement: a 10-row read through the gateway's pools, direct vs one hop vs a
// jump host and a bastion (both real OpenSSH on loopback, so this is the SSH framing and crypto cost,
// not network distance).
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
let target: TestDatabase;
let bastion: TestSshd;
let jump: TestSshd;
let pools: TargetPools;

beforeAll(async () => {
  [target, bastion, jump] = await Promise.all([createChinookDatabase(), startSshd(), startSshd()]);
  const policy: TargetPolicy = { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(), allowPowerfulRoles: true };
  pools = new TargetPools({ max: 4, idleMs: 60_000, keyring, policy }, createLogger("silent"));
}, 120_000);
afterAll(async () => {
  await pools?.closeAll();
  await Promise.all([target?.drop(), bastion?.stop(), jump?.stop()]);
});

function row(servers: TestSshd[]): TargetConnectionRow {
  const id = randomUUID();
  const t = parseTargetUrl(target.url);
  return {
    id,
    host: t.host,
    port: t.port,
    database: t.database,
    username: t.username,
    secretCiphertext: keyring.seal(t.password, id).ciphertext,
    sslMode: "disable",
    sslCaCert: null,
    sshHops: servers.map((s, position) => ({
      position,
      host: s.host,
      port: s.port,
      username: s.username,
      privateKeyCiphertext: sealSshSecret(keyring, id, position, "key", s.clientKeys.ed25519.privateKey),
      passphraseCiphertext: null,
      hostKeySha256: s.hostKeyFingerprint,
    })),
  };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function measure(r: TargetConnectionRow, calls = 100): Promise<{ median: number; p95: number }> {
  const pool = await pools.get(r);
  // Warm: the pool's sessions (and the chain) exist before timing, as on a gateway in use.
  for (let i = 0; i < 5; i++) await pool.query("SELECT album_id, title FROM album ORDER BY album_id LIMIT 10");
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const started = process.hrtime.bigint();
    const { rows } = await (await pools.get(r)).query("SELECT album_id, title FROM album ORDER BY album_id LIMIT 10");
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    expect(rows).toHaveLength(10);
  }
  times.sort((a, b) => a - b);
  return { median: quantile(times, 0.5), p95: quantile(times, 0.95) };
}

test("median latency of a 10-row read: direct, one hop, two hops (100 calls each, through the pool)", async () => {
  const direct = await measure(row([]));
  const oneHop = await measure(row([bastion]));
  const twoHops = await measure(row([jump, bastion]));
  const show = (name: string, m: { median: number; p95: number }) => `${name.padEnd(9)} median ${m.median.toFixed(2)} ms  p95 ${m.p95.toFixed(2)} ms`;
  console.log(["10-row read, 100 calls each:", show("direct", direct), show("1 hop", oneHop), show("2 hops", twoHops)].join("\n"));
  // Every pooled session of a route shares one SSH connection per hop.
  expect(await bastion.connections()).toBe(2);
  expect(await jump.connections()).toBe(1);
  // Loose bound for a shared 2-core machine, but tight enough to catch Nagle + delayed ACK coming back
  // (without TCP_NODELAY on the first hop every statement paid ~40 ms: median 46 ms through one hop).
  expect(oneHop.median).toBeLessThan(direct.median + 20);
  expect(twoHops.median).toBeLessThan(direct.median + 20);
}, 120_000);
