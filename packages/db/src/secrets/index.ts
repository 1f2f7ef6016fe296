import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * Connection secrets are sealed with AES-256-GCM. The stored form is
 * `v1.<keyId>.<iv b64url>.<tag b64url>.<ciphertext b64url>`; the key id is also kept in its own column
 * so the re-encryption command can find rows sealed under an old key with an index-free scan.
 * The connection id is bound as additional authenticated data, so a ciphertext copied onto another
 * connection's row fails to open instead of leaking that password to the other connection.
 */
export interface SecretKey {
  id: string;
  key: Buffer;
}

export class SecretKeyring {
  readonly primary: SecretKey;
  private readonly byId: Map<string, SecretKey>;

  constructor(keys: SecretKey[]) {
    const [primary] = keys;
    if (!primary) throw new Error("PORTCULLIS_SECRET_KEYS holds no key");
    this.primary = primary;
    this.byId = new Map(keys.map((k) => [k.id, k]));
  }

  /** Parses "id:base64,id2:base64" (first = key used to seal). Keys must be exactly 32 bytes. */
  static parse(spec: string): SecretKeyring {
    const keys = spec
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => {
        const colon = part.indexOf(":");
        if (colon <= 0) throw new Error(`secret key entry must be "<id>:<base64 key>", got "${part.slice(0, 8)}…"`);
        const id = part.slice(0, colon);
        if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`secret key id "${id}" must be 1-32 of A-Z a-z 0-9 _ -`);
        const key = Buffer.from(part.slice(colon + 1), "base64");
        if (key.length !== 32) throw new Error(`secret key "${id}" must decode to 32 bytes, got ${key.length}`);
        return { id, key };
      });
    return new SecretKeyring(keys);
  }

  has(keyId: string): boolean {
    return this.byId.has(keyId);
  }

  seal(plaintext: string, context: string): { ciphertext: string; keyId: string } {
    const { id, key } = this.primary;
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const tag = cipher.getAuthTag();
    return {
      ciphertext: ["v1", id, iv.toString("base64url"), tag.toString("base64url"), body.toString("base64url")].join("."),
      keyId: id,
    };
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split(".");
    if (parts.length !== 5 || parts[0] !== "v1") throw new Error("secret is not in the v1 sealed format");
    const [, keyId, iv, tag, body] = parts as [string, string, string, string, string];
    const entry = this.byId.get(keyId);
    if (!entry) throw new Error(`secret was sealed with key "${keyId}", which is not in PORTCULLIS_SECRET_KEYS`);
    const decipher = createDecipheriv("aes-256-gcm", entry.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    try {
      return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("secret failed authentication: wrong key, wrong connection, or the stored value was altered");
    }
  }
}

/** A fresh random key in the PORTCULLIS_SECRET_KEYS format. */
export function generateSecretKey(id: string): string {
  return `${id}:${randomBytes(32).toString("base64")}`;
}

let keyring: SecretKeyring | undefined;

export function getKeyring(spec?: string): SecretKeyring {
  if (spec !== undefined) return SecretKeyring.parse(spec);
  if (!keyring) {
    const env = process.env.PORTCULLIS_SECRET_KEYS;
    if (!env) throw new Error("PORTCULLIS_SECRET_KEYS is not set (see .env.example)");
    keyring = SecretKeyring.parse(env);
  }
  return keyring;
}
