import { createPrivateKey, randomBytes } from "node:crypto";
import ssh2, { type ParsedKey } from "ssh2";
import { opensshKdf } from "./kdf.js";
import { openKeyOnWorker } from "./key-worker.js";

// ssh2 is CommonJS: Node's ESM loader (tsx, plain node) finds no named `utils` export in it.
const { utils } = ssh2;

/**
 * An encrypted OpenSSH key is opened with bcrypt_pbkdf, whose round count the key file itself chooses,
 * and ssh2 runs it synchronously in pure JavaScript: ~57 ms per round here (ssh-keygen's default 16:
 * 0.9 s). On the gateway's event loop one tenant's key would stall every tenant's calls — a key made
 * with `-a 1000` for about a minute. So every key given with a passphrase is opened on a worker thread,
 * and round counts beyond what anyone uses are refused before that.
 */
export const MAX_KDF_ROUNDS = 256;

/** The bcrypt round count ssh2 would use for this key (read as ssh2 reads it); undefined for any other key. */
export function opensshKdfRounds(text: string): number | undefined {
  const kdf = opensshKdf(text);
  return kdf.kind === "bcrypt" ? kdf.rounds : undefined;
}

/** Words for a key worker that could not run; they name no passphrase (the key was not looked at). */
export const KEY_WORKER_FAILED = "the key worker did not start on this server, so this protected key was not opened";

/** The key was not looked at: no worker was free for its owner in time (or its queue is full). Try again. */
export class KeyBusyError extends Error {
  readonly code = "ssh_key_busy";
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

/**
 * Parses a hop's private key. Without a passphrase ssh2 refuses every encrypted format before any key
 * derivation, so that parse is cheap and runs here. With one, the key is opened on a worker thread —
 * whatever its format, so no file this module misjudges can make ssh2 run bcrypt on this thread — after
 * refusing bcrypt round counts (read as ssh2 reads them) beyond MAX_KDF_ROUNDS. When no worker can run,
 * the key is refused: never opened here instead. Returns an Error in ssh2's words when it cannot be
 * opened (wrong or missing passphrase, unsupported format), or a KeyBusyError when `options.owner`'s
 * queue for the key workers is full or the key waited too long for one.
 */
export async function parseHopKey(text: string, passphrase: string | undefined, options: { owner?: string } = {}): Promise<ParsedKey | Error> {
  if (!passphrase) {
    // ssh2 treats "" as a passphrase (and would run bcrypt with it): give it none at all.
    const parsed = utils.parseKey(text);
    return Array.isArray(parsed) ? ((parsed as ParsedKey[])[0] ?? new Error("no key")) : parsed;
  }
  const kdf = opensshKdf(text);
  if (kdf.kind === "bcrypt" && kdf.rounds === undefined) return new Error("Malformed OpenSSH private key");
  if (kdf.kind === "bcrypt" && kdf.rounds! > MAX_KDF_ROUNDS)
    return new Error(`the key's passphrase uses ${kdf.rounds} bcrypt rounds; at most ${MAX_KDF_ROUNDS} are accepted (ssh-keygen -p -a 64 -f KEY re-encrypts it)`);
  const opened = await openKeyOnWorker(text, passphrase, options.owner);
  if (opened.busy) return new KeyBusyError(opened.error!);
  if (opened.workerFailed) {
    // The detail names this server's paths: kept as the cause (for the operator), out of the words a tenant sees.
    const missing = /Cannot find module|MODULE_NOT_FOUND/.test(opened.error ?? "");
    return new Error(`${KEY_WORKER_FAILED} (ERR_WORKER${missing ? ": Cannot find module 'ssh2'" : ""})`, { cause: opened.error });
  }
  if (opened.error || !opened.pem || !opened.publicSSH) return new Error(opened.error ?? "the key could not be opened");
  const publicSSH = Buffer.from(opened.publicSSH);
  // What comes back is unencrypted: parsing it here derives nothing.
  const reparsed = utils.parseKey(opened.type === "ssh-ed25519" ? unencryptedEd25519(opened.pem, publicSSH) : opened.pem);
  const key = Array.isArray(reparsed) ? (reparsed as ParsedKey[])[0] : reparsed;
  if (!key || key instanceof Error) return new Error(`the key could not be re-read after opening (${key ? key.message : "no key"})`);
  // The key used is provably the one the user gave: same public half.
  if (!key.getPublicSSH().equals(publicSSH)) return new Error("the key could not be re-read after opening");
  return key;
}
