import { createPrivateKey, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import ssh2, { type ParsedKey } from "ssh2";

// ssh2 is CommonJS: Node's ESM loader (tsx, plain node) finds no named `utils` export in it.
const { utils } = ssh2;

/**
 * An encrypted OpenSSH key is opened with bcrypt_pbkdf, whose round count the key file itself chooses,
 * and ssh2 runs it synchronously in pure JavaScript: ~57 ms per round here (ssh-keygen's default 16:
 * 0.9 s). On the gateway's event loop one tenant's key would stall every tenant's calls — a key made
 * with `-a 1000` for about a minute. So such keys are opened on a worker thread, and round counts beyond
 * what anyone uses are refused.
 */
export const MAX_KDF_ROUNDS = 256;
const WORKER_TIMEOUT_MS = 60_000;

/** The bcrypt round count of an encrypted OpenSSH private key; undefined for any other key. */
export function opensshKdfRounds(text: string): number | undefined {
  const match = /-----BEGIN OPENSSH PRIVATE KEY-----\r?\n([\s\S]+?)\r?\n-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!match) return undefined;
  const data = Buffer.from(match[1]!.replace(/\s+/g, ""), "base64");
  if (data.subarray(0, 15).toString("latin1") !== "openssh-key-v1\0") return undefined;
  let at = 15;
  const field = (): Buffer | undefined => {
    if (at + 4 > data.length) return undefined;
    const length = data.readUInt32BE(at);
    if (at + 4 + length > data.length) return undefined;
    const out = data.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    return out;
  };
  field(); // cipher name
  const kdf = field()?.toString("latin1");
  const options = field();
  if (kdf !== "bcrypt" || !options || options.length < 4) return undefined;
  const saltLength = options.readUInt32BE(0);
  if (4 + saltLength + 4 > options.length) return undefined;
  return options.readUInt32BE(4 + saltLength);
}

/** Where the worker loads ssh2 from; undefined where it cannot be found on disk (a bundle without it). */
function ssh2Path(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve("ssh2");
  } catch {
    return undefined;
  }
}

// Runs in the worker: opens the key and hands back what the main thread can re-parse cheaply.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { utils } = require(workerData.ssh2);
const parsed = utils.parseKey(workerData.text, workerData.passphrase);
const key = Array.isArray(parsed) ? parsed[0] : parsed;
if (!key || key instanceof Error) parentPort.postMessage({ error: key ? key.message : "no key" });
else parentPort.postMessage({ type: key.type, pem: key.getPrivatePEM(), publicSSH: key.getPublicSSH() });
`;

interface Opened {
  error?: string;
  type?: string;
  pem?: string;
  publicSSH?: Uint8Array;
}

function openOnWorker(ssh2: string, text: string, passphrase: string): Promise<Opened> {
  return new Promise((resolve) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ssh2, text, passphrase } });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve({ error: "opening the key took too long" });
    }, WORKER_TIMEOUT_MS);
    worker.once("message", (message: Opened) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(message);
    });
    worker.once("error", (error) => {
      clearTimeout(timer);
      resolve({ error: error.message });
    });
  });
}

const sshString = (value: Buffer | string) => {
  const bytes = typeof value === "string" ? Buffer.from(value, "latin1") : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

/**
 * The same ed25519 key as an unencrypted OpenSSH key (ssh2 cannot re-read the PKCS#8 PEM it exports for
 * ed25519). Built in memory only, never stored or logged.
 */
function unencryptedEd25519(pem: string, publicSSH: Buffer): string {
  const jwk = createPrivateKey(pem).export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const pub = Buffer.from(jwk.x!, "base64url");
  const check = randomBytes(4);
  let section = Buffer.concat([check, check, sshString("ssh-ed25519"), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString("")]);
  const padding = Buffer.from(Array.from({ length: (8 - (section.length % 8)) % 8 }, (_, i) => i + 1));
  section = Buffer.concat([section, padding]);
  const nkeys = Buffer.alloc(4);
  nkeys.writeUInt32BE(1);
  const body = Buffer.concat([Buffer.from("openssh-key-v1\0", "latin1"), sshString("none"), sshString("none"), sshString(""), nkeys, sshString(publicSSH), sshString(section)]);
  const lines = body.toString("base64").match(/.{1,70}/g)!.join("\n");
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function parseHopKeyHere(text: string, passphrase: string | undefined): ParsedKey | Error {
  const parsed = utils.parseKey(text, passphrase);
  return Array.isArray(parsed) ? ((parsed as ParsedKey[])[0] ?? new Error("no key")) : parsed;
}

/**
 * Parses a hop's private key: cheap formats on this thread; an encrypted OpenSSH key (bcrypt) on a
 * worker thread, refused beyond MAX_KDF_ROUNDS. Returns an Error in ssh2's words when it cannot be
 * opened (wrong or missing passphrase, unsupported format).
 */
export async function parseHopKey(text: string, passphrase: string | undefined): Promise<ParsedKey | Error> {
  const rounds = opensshKdfRounds(text);
  if (rounds === undefined || !passphrase) return parseHopKeyHere(text, passphrase);
  if (rounds > MAX_KDF_ROUNDS)
    return new Error(`the key's passphrase uses ${rounds} bcrypt rounds; at most ${MAX_KDF_ROUNDS} are accepted (ssh-keygen -p -a 64 -f KEY re-encrypts it)`);
  const modulePath = ssh2Path();
  // Without ssh2 on disk (a bundled dashboard) the key is opened here: the round cap bounds the stall.
  if (!modulePath) return parseHopKeyHere(text, passphrase);
  const opened = await openOnWorker(modulePath, text, passphrase);
  if (opened.error || !opened.pem || !opened.publicSSH) return new Error(opened.error ?? "the key could not be opened");
  const publicSSH = Buffer.from(opened.publicSSH);
  const reparsed = utils.parseKey(opened.type === "ssh-ed25519" ? unencryptedEd25519(opened.pem, publicSSH) : opened.pem);
  const key = Array.isArray(reparsed) ? (reparsed as ParsedKey[])[0] : reparsed;
  if (!key || key instanceof Error) return new Error(`the key could not be re-read after opening (${key ? key.message : "no key"})`);
  // The key used is provably the one the user gave: same public half.
  if (!key.getPublicSSH().equals(publicSSH)) return new Error("the key could not be re-read after opening");
  return key;
}
