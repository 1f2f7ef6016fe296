/**
 * How ssh2 would derive an OpenSSH key's cipher key, read exactly as ssh2 1.x reads it
 * (lib/protocol/keyParser.js, OpenSSH_Private.parse on the trimmed text): its pattern is greedy up to
 * the LAST END line and Node's base64 decoder takes '-' as base64url, so the END line of a first block
 * is data to ssh2. A reader that stops at the first END line, or skips any of ssh2's steps, can be
 * shown a file that looks unencrypted to it while ssh2 runs bcrypt with the round count hidden behind it.
 */

// ssh2's own recogniser, character for character.
const SSH2_OPENSSH = /^-----BEGIN OPENSSH PRIVATE KEY-----(?:\r\n|\n)([\s\S]+)(?:\r\n|\n)-----END OPENSSH PRIVATE KEY-----$/;

export type OpensshKdf = { kind: "other" } | { kind: "plain" } | { kind: "bcrypt"; rounds: number | undefined };

// ssh2's readString bounds, so a length field that runs past the data ends the read where ssh2's does.
function readString(data: Buffer, at: number): { value: Buffer; next: number } | undefined {
  if (at < 0 || at >= data.length || data.length - at < 4) return undefined;
  const length = data.readUInt32BE(at);
  if (data.length - at < 4 + length) return undefined;
  return { value: data.subarray(at + 4, at + 4 + length), next: at + 4 + length };
}

/**
 * Not an OpenSSH key at all ("other": PEM, PuTTY, garbage — ssh2 runs no bcrypt for those), one ssh2
 * opens without bcrypt ("plain", or refuses before any KDF), or bcrypt with the round count ssh2 would
 * use (undefined when ssh2 would find none: it then answers "malformed").
 */
export function opensshKdf(text: string): OpensshKdf {
  const match = SSH2_OPENSSH.exec(text.trim());
  if (!match) return { kind: "other" };
  const data = Buffer.from(match[1]!, "base64");
  const cipher = readString(data, 15);
  const kdf = cipher && readString(data, cipher.next);
  if (!kdf) return { kind: "plain" }; // ssh2 answers "malformed" before any KDF
  if (kdf.value.toString("utf8") !== "bcrypt") return { kind: "plain" };
  const options = readString(data, kdf.next);
  const salt = options && readString(options.value, 0);
  if (!options || !salt || salt.next + 4 > options.value.length) return { kind: "bcrypt", rounds: undefined };
  return { kind: "bcrypt", rounds: options.value.readUInt32BE(salt.next) };
}
