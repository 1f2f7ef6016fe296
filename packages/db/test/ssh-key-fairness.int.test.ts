import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { ParsedKey } from "ssh2";
import { afterAll, beforeAll, expect, test } from "vitest";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { clearOpenedHopKeys, openHopKey } from "../src/ssh/key-cache.js";
import { KEY_QUEUE_FULL, KEY_QUEUE_TIMEOUT, keyWorkerJobsStarted } from "../src/ssh/key-worker.js";
import { KeyBusyError, parseHopKey, sealSshSecret } from "../src/ssh/index.js";
import type { TargetConnectionRow, TargetSshHop } from "../src/target.js";

// Attack round 2, K1: the two key workers are shared by every tenant. One connection's burst of
// cap-round keys must not hold them for another's key, and one connection's routes (primary and
// replicas, reopened after drops) must not open the same key again and again.
const run = promisify(execFile);
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const pass = "attacker pass";
let dir: string;
let k256: string;
let k32: string;
let k16: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ssh-key-fair-"));
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", pass, "-a", "256", "-f", path.join(dir, "k256")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", pass, "-a", "32", "-f", path.join(dir, "k32")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", pass, "-a", "16", "-f", path.join(dir, "k16")]);
  k256 = await readFile(path.join(dir, "k256"), "utf8");
  k32 = await readFile(path.join(dir, "k32"), "utf8");
  k16 = await readFile(path.join(dir, "k16"), "utf8");
}, 60_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function rowWith(key: string, passphrase: string | null): { row: TargetConnectionRow; hop: TargetSshHop } {
  const id = randomUUID();
  const hop: TargetSshHop = {
    position: 0,
    host: "bastion.example",
    port: 22,
    username: "tunnel",
    privateKeyCiphertext: sealSshSecret(keyring, id, 0, "key", key),
    passphraseCiphertext: passphrase === null ? null : sealSshSecret(keyring, id, 0, "passphrase", passphrase),
    hostKeySha256: null,
  };
  const row = { id, host: "db.example", port: 5432, database: "d", username: "u", secretCiphertext: "", sslMode: "disable", sslCaCert: null, sshHops: [hop] } as TargetConnectionRow;
  return { row, hop };
}

// A's burst is of 32-round keys, not cap-round (256) ones: which worker goes to whom does not depend
// on the rounds, but B may wait at most QUEUE_WAIT_MS (20 s) for a worker, and a cap-round key is 8
// times a 32-round one's bcrypt — on this loaded 2-core machine A's first two took longer than 20 s
// and B was refused in words (at nice 0 under load 13, and in a full run; even a 64-round key took
// 12.4 s there). Before the fix B still waits behind all ten of A's accepted keys: 5 times one key's
// work, and finishes after A's third.
test("B's 16-round key opens within about one of A's keys' time while A has 20 keys asked for; A's 9th queued key is refused at once in words", async () => {
  const aStart = Date.now();
  const doneAt: number[] = [];
  const a = Array.from({ length: 20 }, () =>
    parseHopKey(k32, pass, { owner: "connection-a" }).then((r) => {
      if (!(r instanceof Error)) doneAt.push(Date.now());
      return r;
    }),
  );
  // Give A's jobs their workers and queue places before B asks.
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  const b = await parseHopKey(k16, pass, { owner: "connection-b" });
  const bDone = Date.now();
  const bMs = bDone - started;
  // A's jobs end before anything is judged: a failure here must not leave them on the workers for the next test.
  const results = await Promise.all(a);
  expect(b).not.toBeInstanceOf(Error);
  expect((b as ParsedKey).isPrivateKey()).toBe(true);
  const opened = results.filter((r) => !(r instanceof Error)).length;
  // One of A's keys' time on this machine as it is loaded now: A's first, which held a worker B needed.
  const capMs = doneAt[0]! - aStart;
  console.log(`B's key opened in ${bMs} ms behind A's burst (one of A's keys took ${capMs} ms); A: ${opened} opened, ${results.length - opened} refused`);
  // Before the fix B waited behind all ten of A's accepted keys (5 rounds of both workers): ~5.5 keys'
  // time. Now one of A's keys, then B's own (16 rounds: half of one; it was 2.7 s of the 8.1 s seen
  // under load 14, so a fixed 4 s for it was too little).
  expect(bMs).toBeLessThan(2 * capMs + 2_000);
  // B took the first freed worker: it was done before A's third key (the first of A's queued ones).
  expect(doneAt.length).toBeGreaterThanOrEqual(2);
  if (doneAt.length >= 3) expect(bDone).toBeLessThan(doneAt[2]!);
  // 2 on workers and 8 queued were taken; the 11th ask (the 9th to queue) and every later one were refused at once.
  for (const r of results.slice(10)) {
    expect(r).toBeInstanceOf(KeyBusyError);
    expect((r as Error).message).toBe(KEY_QUEUE_FULL);
  }
  // The taken ones were opened, or (on a loaded machine) refused in words after waiting 20 s for a worker.
  for (const r of results.slice(0, 10)) expect(["opened", KEY_QUEUE_TIMEOUT]).toContain(r instanceof Error ? r.message : "opened");
}, 120_000);

test("17 routes opening the same hop key at once run ONE worker job; the next open is a cache hit (< 5 ms); a resealed key is opened again", async () => {
  clearOpenedHopKeys();
  const { row, hop } = rowWith(k16, pass);
  const before = keyWorkerJobsStarted();
  const keys = await Promise.all(Array.from({ length: 17 }, () => openHopKey(row, hop, keyring)));
  expect(keyWorkerJobsStarted() - before).toBe(1);
  expect(new Set(keys).size).toBe(1);
  expect(keys[0]!.isPrivateKey()).toBe(true);
  // The best of five opens: one can lose the CPU for longer than 5 ms on a loaded machine; a miss (a
  // worker job: bcrypt) is never that fast, and would start jobs counted below.
  const hits: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const again = await openHopKey({ ...row }, { ...hop }, keyring);
    hits.push(performance.now() - t0);
    expect(again).toBe(keys[0]);
  }
  const hitMs = Math.min(...hits);
  console.log(`cached hop key opened again in ${hits.map((ms) => ms.toFixed(2)).join(", ")} ms`);
  expect(hitMs).toBeLessThan(5);
  expect(keyWorkerJobsStarted() - before).toBe(1);
  // The key edited (same text, sealed again: a new ciphertext) is not the cached one.
  const resealed = { ...hop, privateKeyCiphertext: sealSshSecret(keyring, row.id, 0, "key", k16) };
  const reopened = await openHopKey(row, resealed, keyring);
  expect(keyWorkerJobsStarted() - before).toBe(2);
  expect(reopened.getPublicSSH().equals(keys[0]!.getPublicSSH())).toBe(true);
  // Another connection with the same key text is its own entry (the id binds the secrets).
  const other = rowWith(k16, pass);
  await openHopKey(other.row, other.hop, keyring);
  expect(keyWorkerJobsStarted() - before).toBe(3);
}, 60_000);

test("a wrong passphrase is refused in words and remembered briefly (no second worker job); a right one after the edit opens", async () => {
  clearOpenedHopKeys();
  const { row, hop } = rowWith(k16, "not the passphrase");
  const before = keyWorkerJobsStarted();
  await expect(openHopKey(row, hop, keyring)).rejects.toMatchObject({ name: "SshAuthError", reason: "passphrase" });
  await expect(openHopKey(row, hop, keyring)).rejects.toMatchObject({ name: "SshAuthError", reason: "passphrase" });
  expect(keyWorkerJobsStarted() - before).toBe(1);
  const fixed = { ...hop, passphraseCiphertext: sealSshSecret(keyring, row.id, 0, "passphrase", pass) };
  expect((await openHopKey(row, fixed, keyring)).isPrivateKey()).toBe(true);
  expect(keyWorkerJobsStarted() - before).toBe(2);
}, 60_000);

test("a refusal for want of a worker is not remembered: the same key opens once the queue drains", async () => {
  clearOpenedHopKeys();
  const { row, hop } = rowWith(k16, pass);
  // Fill this connection's queue with cap-round keys (2 on workers, 8 waiting), then ask for its hop key.
  const burst = Array.from({ length: 10 }, () => parseHopKey(k256, pass, { owner: row.id }));
  await new Promise((r) => setTimeout(r, 50));
  await expect(openHopKey(row, hop, keyring)).rejects.toMatchObject({ name: "SshAuthError", message: expect.stringContaining(KEY_QUEUE_FULL) });
  await Promise.all(burst);
  expect((await openHopKey(row, hop, keyring)).isPrivateKey()).toBe(true);
}, 180_000);
