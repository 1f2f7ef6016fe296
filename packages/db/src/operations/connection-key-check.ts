import ssh2 from "ssh2";
import { opensshKdf } from "../ssh/kdf.js";
import { MAX_KDF_ROUNDS, opensshKdfRounds, parseHopKey } from "../ssh/key.js";

/**
 * SSH private keys as users paste them, checked without ever opening a passphrase-protected OpenSSH key
 * on the calling thread: ssh2 derives its cipher key with synchronous pure-JS bcrypt_pbkdf, and the round
 * count is whatever the key file says (~57 ms a round here), so a crafted file would stall the dashboard
 * or CLI process — every tenant of it — for minutes. The zod schemas use the synchronous shape check;
 * operations await `sshKeyProblemAsync`, which opens such keys on R's worker thread (parseHopKey).
 */

const UNREADABLE = "this is not a private key ssh can read: paste it in OpenSSH or PEM form (-----BEGIN OPENSSH PRIVATE KEY-----…)";
const NEEDS_PASSPHRASE = "this private key is protected by a passphrase: enter the passphrase too";
const WRONG_PASSPHRASE = "the passphrase does not open the private key";

/** The form field a key problem belongs to: the passphrase only when it is missing or does not open the key. */
export function keyProblemField(problem: string): "passphrase" | "privateKey" {
  return problem === NEEDS_PASSPHRASE || problem === WRONG_PASSPHRASE ? "passphrase" : "privateKey";
}

// The reader lives beside the route's own gate (ssh/kdf.ts), so both always see the count ssh2 uses.
export { opensshKdf };

function roundsRefusal(rounds: number): string {
  return `this key's passphrase protection asks for ${rounds} bcrypt rounds; at most ${MAX_KDF_ROUNDS} are accepted: re-encrypt it with ssh-keygen -p -a 64 -f <key file>`;
}

/**
 * What can be said of a key without any costly work: undefined when nothing is wrong so far. A
 * passphrase-protected OpenSSH key is never parsed here (its passphrase is checked by the async check).
 */
export function sshKeyShapeProblem(privateKey: string, passphrase?: string | null): string | undefined {
  const kdf = opensshKdf(privateKey);
  if (kdf.kind === "bcrypt") {
    if (kdf.rounds === undefined) return UNREADABLE;
    if (kdf.rounds > MAX_KDF_ROUNDS) return roundsRefusal(kdf.rounds);
    // The route's own gate (parseHopKey) must see the same count, or it would open the key in-process.
    if (opensshKdfRounds(privateKey) !== kdf.rounds) return UNREADABLE;
    if (!passphrase) return NEEDS_PASSPHRASE;
    return undefined;
  }
  // No bcrypt (unencrypted OpenSSH, PEM — encrypted or not, one MD5 pass —, PuTTY v2): cheap to parse here.
  return problemOf(ssh2.utils.parseKey(privateKey, passphrase ?? undefined), passphrase);
}

function problemOf(parsed: ReturnType<typeof ssh2.utils.parseKey>, passphrase?: string | null): string | undefined {
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || !key) {
    const message = key instanceof Error ? key.message : "";
    if (/no passphrase given/i.test(message) || (/passphrase/i.test(message) && !passphrase)) return NEEDS_PASSPHRASE;
    if (/passphrase|decrypt|integrity/i.test(message)) return WRONG_PASSPHRASE;
    return UNREADABLE;
  }
  if (!key.isPrivateKey()) return "this is a public key: paste the private key (the file without .pub)";
  return undefined;
}

/** The full check: the shape, then a protected OpenSSH key opened off this thread with its passphrase. */
export async function sshKeyProblemAsync(privateKey: string, passphrase?: string | null): Promise<string | undefined> {
  const shape = sshKeyShapeProblem(privateKey, passphrase);
  if (shape || opensshKdf(privateKey).kind !== "bcrypt") return shape;
  const opened = await parseHopKey(privateKey, passphrase ?? undefined);
  if (opened instanceof Error) {
    if (/bcrypt rounds/.test(opened.message)) return roundsRefusal(opensshKdfRounds(privateKey) ?? 0);
    if (/too long/.test(opened.message)) return "opening this key took too long: re-encrypt it with ssh-keygen -p -a 64 -f <key file>";
    // The worker itself failed (ssh2 not loadable beside a bundle): refused, but not blamed on the key.
    if (/Cannot find module|ERR_WORKER|MODULE_NOT_FOUND/i.test(opened.message)) return "this passphrase-protected key could not be checked on this server (its key worker did not start): tell the operator";
    return problemOf(opened, passphrase);
  }
  return problemOf(opened, passphrase);
}

/**
 * The first hop key of the fields that cannot be used: the form field it belongs to and words naming the
 * hop. Keys absent (kept from storage) are skipped: they were checked when stored.
 */
export async function sshHopKeysProblem(
  hops: readonly { host: string; port: number; username: string; privateKey?: string | null; passphrase?: string | null }[],
): Promise<{ field: string; message: string } | undefined> {
  for (const [i, hop] of hops.entries()) {
    if (!hop.privateKey) continue;
    const problem = await sshKeyProblemAsync(hop.privateKey, hop.passphrase);
    if (problem) return { field: `ssh.hops.${i}.${keyProblemField(problem)}`, message: `hop ${i + 1} (${hop.username}@${hop.host}:${hop.port}): ${problem}` };
  }
  return undefined;
}
