import { describe, expect, it } from "vitest";
import { SecretKeyring, generateSecretKey } from "../src/secrets/index.js";
import { apiKeyPrefix, constantTimeEqualHex, hashApiKey, issueApiKey, looksLikeApiKey } from "../src/keys.js";

describe("SecretKeyring", () => {
  const k1 = generateSecretKey("k1");
  const k2 = generateSecretKey("k2");

  it("seals and opens with the connection id as context", () => {
    const ring = SecretKeyring.parse(k1);
    const sealed = ring.seal("s3cret pässword", "conn-a");
    expect(sealed.keyId).toBe("k1");
    expect(sealed.ciphertext).not.toContain("s3cret");
    expect(ring.open(sealed.ciphertext, "conn-a")).toBe("s3cret pässword");
  });

  it("uses a fresh IV each time", () => {
    const ring = SecretKeyring.parse(k1);
    expect(ring.seal("x", "c").ciphertext).not.toBe(ring.seal("x", "c").ciphertext);
  });

  it("refuses a ciphertext moved to another connection (AAD binding)", () => {
    const ring = SecretKeyring.parse(k1);
    const sealed = ring.seal("pw", "conn-a");
    expect(() => ring.open(sealed.ciphertext, "conn-b")).toThrow(/failed authentication/);
  });

  it("refuses a tampered ciphertext", () => {
    const ring = SecretKeyring.parse(k1);
    const parts = ring.seal("pw", "c").ciphertext.split(".");
    const body = Buffer.from(parts[4]!, "base64url");
    body[0] = body[0]! ^ 1;
    parts[4] = body.toString("base64url");
    expect(() => ring.open(parts.join("."), "c")).toThrow(/failed authentication/);
  });

  it("opens secrets sealed under an older key after rotation, and seals under the new one", () => {
    const old = SecretKeyring.parse(k1).seal("pw", "c");
    const rotated = SecretKeyring.parse(`${k2},${k1}`);
    expect(rotated.open(old.ciphertext, "c")).toBe("pw");
    expect(rotated.seal("pw", "c").keyId).toBe("k2");
  });

  it("names a missing key instead of failing obscurely", () => {
    const sealed = SecretKeyring.parse(k1).seal("pw", "c");
    expect(() => SecretKeyring.parse(k2).open(sealed.ciphertext, "c")).toThrow(/key "k1"/);
  });

  it("rejects malformed key specs with a precise message", () => {
    expect(() => SecretKeyring.parse("nokey")).toThrow(/<id>:<base64 key>/);
    expect(() => SecretKeyring.parse("k1:c2hvcnQ=")).toThrow(/32 bytes/);
    expect(() => SecretKeyring.parse(" , ")).toThrow(/no key/);
  });
});

describe("API keys", () => {
  it("issues recognisable high-entropy keys whose hash matches", () => {
    const issued = issueApiKey();
    expect(looksLikeApiKey(issued.key)).toBe(true);
    expect(apiKeyPrefix(issued.key)).toBe(issued.prefix);
    expect(issued.prefix).toMatch(/^pcs_[a-z0-9]{8}$/);
    expect(hashApiKey(issued.key)).toBe(issued.hash);
    expect(issued.key.length).toBeGreaterThanOrEqual(56);
  });

  it("never issues the same key twice", () => {
    const keys = new Set(Array.from({ length: 1000 }, () => issueApiKey().key));
    expect(keys.size).toBe(1000);
  });

  it("compares hashes in constant time and handles length mismatch", () => {
    const { hash } = issueApiKey();
    expect(constantTimeEqualHex(hash, hash)).toBe(true);
    expect(constantTimeEqualHex(hash, hashApiKey("other"))).toBe(false);
    expect(constantTimeEqualHex(hash, "abcd")).toBe(false);
  });

  it("rejects look-alikes", () => {
    expect(looksLikeApiKey("pcs_short_x")).toBe(false);
    expect(looksLikeApiKey(`Bearer ${issueApiKey().key}`)).toBe(false);
  });
});
