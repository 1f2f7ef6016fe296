import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ssh2, { type ParsedKey } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_WORKER_FAILED, MAX_KDF_ROUNDS, opensshKdf, opensshKdfRounds, parseHopKey } from "../src/ssh/index.js";

// Key files built to make ssh2 run bcrypt on the calling thread: whatever they claim, a key given with a
// passphrase is opened on a worker thread (or refused), and the event loop keeps turning.
const run = promisify(execFile);
const passphrase = "open sesame";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
let dir: string;
let key16: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ssh-key-gate-"));
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-a", "16", "-f", path.join(dir, "k16")]);
  key16 = await readFile(path.join(dir, "k16"), "utf8");
}, 30_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const str = (b: Buffer) => Buffer.concat([u32(b.length), b]);
const pemOf = (b64: string) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64.match(/.{1,70}/g)!.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;

/** The key's binary form split at its KDF options: [up to the options, salt, after the options]. */
function split(text: string): { head: Buffer; salt: Buffer; tail: Buffer } {
  const data = Buffer.from(/-----BEGIN OPENSSH PRIVATE KEY-----\n([\s\S]+?)\n-----END/.exec(text)![1]!.replace(/\s+/g, ""), "base64");
  let at = 15;
  at += 4 + data.readUInt32BE(at); // cipher
  at += 4 + data.readUInt32BE(at); // kdf
  const optionsLength = data.readUInt32BE(at);
  const saltLength = data.readUInt32BE(at + 4);
  return { head: data.subarray(0, at), salt: data.subarray(at + 8, at + 8 + saltLength), tail: data.subarray(at + 4 + optionsLength) };
}

/** The KDF options replaced by these bytes (a round count, or garbage where it should be). */
function withOptions(text: string, options: Buffer): string {
  const { head, tail } = split(text);
  return pemOf(Buffer.concat([head, str(options), tail]).toString("base64"));
}

/**
 * The first block ends inside the KDF options, so a reader that stops at the first END line finds no
 * round count; ssh2 reads to the last END line and decodes its letters as salt ('-' is base64url's 62).
 */
function withTwoEndLines(text: string, rounds: number): string {
  const markerBytes = Buffer.from("-----ENDOPENSSHPRIVATEKEY-----AA", "base64"); // 32 characters: whole groups
  const { head, salt, tail } = split(text);
  let pad = Buffer.alloc(0);
  while ((head.length + 8 + pad.length) % 3 !== 0) pad = Buffer.concat([pad, Buffer.from([0x61])]);
  const whole = Buffer.concat([head, str(Buffer.concat([str(Buffer.concat([pad, markerBytes, salt])), u32(rounds)])), tail]);
  const before = whole.subarray(0, head.length + 8 + pad.length);
  const after = whole.subarray(before.length + markerBytes.length);
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${before.toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\nAA${after.toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** Runs work while a 10 ms interval measures the event loop's worst gap. */
async function ticking<T>(work: () => Promise<T>): Promise<{ value: T; took: number; worstGap: number }> {
  let last = Date.now();
  let worstGap = 0;
  const ticker = setInterval(() => {
    worstGap = Math.max(worstGap, Date.now() - last);
    last = Date.now();
  }, 10);
  const started = Date.now();
  try {
    const value = await work();
    // A starved timer may not have fired before the continuation: count the gap up to now too.
    worstGap = Math.max(worstGap, Date.now() - last);
    return { value, took: Date.now() - started, worstGap };
  } finally {
    clearInterval(ticker);
  }
}

describe("parseHopKey's gate against bcrypt on the calling thread", () => {
  it("a two-END-line file with 5000 rounds: its count is read as ssh2 reads it, and it is refused at once", async () => {
    const twoEnds = withTwoEndLines(key16, 5000);
    // ssh2 itself sees a bcrypt-protected key in it (asked without a passphrase, so no bcrypt runs).
    expect(String(ssh2.utils.parseKey(twoEnds))).toMatch(/Encrypted private OpenSSH key detected, but no passphrase given/);
    expect(opensshKdfRounds(twoEnds)).toBe(5000);
    const { value, took, worstGap } = await ticking(() => parseHopKey(twoEnds, passphrase));
    console.log(`two END lines, 5000 rounds: refused in ${took} ms, worst loop gap ${worstGap} ms`);
    expect(value).toBeInstanceOf(Error);
    expect((value as Error).message).toContain(`uses 5000 bcrypt rounds; at most ${MAX_KDF_ROUNDS} are accepted`);
    expect(took).toBeLessThan(1_000);
    expect(worstGap).toBeLessThan(250);
  });

  it("a two-END-line file within the cap is opened on the worker: the event loop keeps turning", async () => {
    // 40 rounds: ~2 s of bcrypt here (1.6 s stall measured with the old first-END reader).
    const twoEnds = withTwoEndLines(key16, 40);
    const { value, took, worstGap } = await ticking(() => parseHopKey(twoEnds, passphrase));
    console.log(`two END lines, 40 rounds: answered in ${took} ms, worst loop gap ${worstGap} ms`);
    // The END line's letters became salt, so the derived cipher key is not the real one.
    expect(value).toBeInstanceOf(Error);
    expect((value as Error).message).toMatch(/passphrase|decrypt/i);
    expect(took).toBeGreaterThan(300); // the bcrypt work did run — elsewhere
    // On this thread the bcrypt is one gap of nearly the whole call; off it, scheduling noise — under
    // 250 ms on a quiet machine, longer on a loaded one (then still far under the call's length).
    expect(worstGap, `worst loop gap ${worstGap} ms of a ${took} ms call`).toBeLessThan(Math.max(250, took / 3));
  }, 60_000);

  it("garbage where the round count should be: refused at once, nothing derived", async () => {
    const salt = split(key16).salt;
    const cases = {
      "no round count": str(salt),
      "a truncated count": Buffer.concat([str(salt), Buffer.from([0, 0])]),
      "a salt length past the end": Buffer.concat([u32(0xffffff00), salt]),
      "2^32-1 rounds": Buffer.concat([str(salt), u32(0xffffffff)]),
    };
    for (const [name, options] of Object.entries(cases)) {
      const text = withOptions(key16, options);
      expect(opensshKdf(text).kind).toBe("bcrypt");
      const { value, took, worstGap } = await ticking(() => parseHopKey(text, passphrase));
      console.log(`${name}: ${String(value)} in ${took} ms, worst loop gap ${worstGap} ms`);
      expect(value).toBeInstanceOf(Error);
      expect((value as Error).message).toMatch(name === "2^32-1 rounds" ? /uses 4294967295 bcrypt rounds/ : /Malformed OpenSSH private key/);
      expect(took).toBeLessThan(1_000);
      expect(worstGap).toBeLessThan(250);
    }
  });

  // bcrypt-pbkdf happens to refuse an empty password itself; the gate does not rely on that.
  it('an empty passphrase is no passphrase: ssh2 is not handed "" for a bcrypt key', async () => {
    const key40 = withOptions(key16, Buffer.concat([str(split(key16).salt), u32(40)]));
    const { value, took, worstGap } = await ticking(() => parseHopKey(key40, ""));
    expect(String(value)).toMatch(/no passphrase given/);
    expect(took).toBeLessThan(1_000);
    expect(worstGap).toBeLessThan(250);
  });

  it("a passphrase-protected PEM key (no bcrypt) is opened on the worker and is the same key", async () => {
    const file = path.join(dir, "pem-rsa");
    await run("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", passphrase, "-f", file]);
    const text = await readFile(file, "utf8");
    expect(text).toContain("Proc-Type: 4,ENCRYPTED");
    expect(opensshKdf(text).kind).toBe("other");
    const key = (await parseHopKey(text, passphrase)) as ParsedKey;
    expect(key).not.toBeInstanceOf(Error);
    expect(key.isPrivateKey()).toBe(true);
    const pub = (await readFile(`${file}.pub`, "utf8")).split(" ")[1]!;
    expect(key.getPublicSSH().toString("base64")).toBe(pub);
    expect(String(await parseHopKey(text, "wrong"))).toMatch(/passphrase|decrypt/i);
  }, 30_000);

  it("where no key worker can start, a protected key is refused — never opened on this thread", async () => {
    // A process whose Node offers no run-time module loader for the worker: the gate must refuse.
    const key40 = withOptions(key16, Buffer.concat([str(split(key16).salt), u32(40)]));
    const script = `
      delete process.getBuiltinModule;
      const { parseHopKey } = await import(${JSON.stringify(path.join(root, "packages/db/src/ssh/key.ts"))});
      let last = Date.now(), worst = 0;
      const t = setInterval(() => { worst = Math.max(worst, Date.now() - last); last = Date.now(); }, 10);
      const started = Date.now();
      const value = await parseHopKey(process.env.KEY_TEXT, "open sesame");
      worst = Math.max(worst, Date.now() - last);
      clearInterval(t);
      console.log(JSON.stringify({ message: String(value && value.message), took: Date.now() - started, worst }));
    `;
    const { stdout } = await run(path.join(root, "node_modules/.bin/tsx"), ["--input-type=module", "-e", script], { env: { ...process.env, KEY_TEXT: key40 }, cwd: root });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { message: string; took: number; worst: number };
    console.log(`no key worker: ${result.message} in ${result.took} ms, worst loop gap ${result.worst} ms`);
    expect(result.message).toContain(KEY_WORKER_FAILED);
    expect(result.message).not.toContain("getBuiltinModule"); // the detail stays in the cause
    expect(result.took).toBeLessThan(1_000);
    expect(result.worst).toBeLessThan(250);
  }, 60_000);
});
