import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionReachSchema, sshHopSchema, tlsFieldsSchema, sshKeyProblem } from "../src/operations/connection-fields.js";
import { sshKeyProblemAsync } from "../src/operations/connection-key-check.js";

// Real keys and certificates (ssh-keygen, openssl): the schemas parse them as the dashboard and CLI will.
let dir: string;
const pem: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "portcullis-fields-"));
  const at = (f: string) => path.join(dir, f);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", at("plain")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "open sesame", "-f", at("locked")]);
  for (const name of ["a", "b"])
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", at(`${name}.key`), "-out", at(`${name}.crt`), "-days", "1", "-subj", `/CN=${name}`], { stdio: "ignore" });
  for (const f of ["plain", "plain.pub", "locked", "a.key", "a.crt", "b.key", "b.crt"]) pem[f] = readFileSync(at(f), "utf8");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const messages = (result: { success: boolean; error?: { issues: { message: string }[] } }) => (result.error?.issues ?? []).map((i) => i.message).join(" | ");
const hop = (over: Record<string, unknown> = {}) => ({ host: "bastion.example.com", port: 22, username: "deploy", privateKey: pem.plain, ...over });

describe("SSH hop fields", () => {
  it("accepts an OpenSSH key, and a protected one with its passphrase", () => {
    expect(sshHopSchema.safeParse(hop()).success).toBe(true);
    expect(sshHopSchema.safeParse(hop({ privateKey: pem.locked, passphrase: "open sesame" })).success).toBe(true);
  });

  it("says a protected key needs its passphrase, and (awaited, off the event loop) when the passphrase is wrong", async () => {
    expect(messages(sshHopSchema.safeParse(hop({ privateKey: pem.locked })))).toMatch(/protected by a passphrase: enter the passphrase/);
    // The synchronous schema never opens a protected key: its passphrase is the operations' awaited check.
    expect(sshHopSchema.safeParse(hop({ privateKey: pem.locked, passphrase: "nope" })).success).toBe(true);
    expect(await sshKeyProblemAsync(pem.locked!, "nope")).toMatch(/passphrase does not open/);
    expect(await sshKeyProblemAsync(pem.locked!, "open sesame")).toBeUndefined();
  }, 30_000);

  it("refuses a public key, garbage, a bad user or host, and a malformed fingerprint", () => {
    expect(messages(sshHopSchema.safeParse(hop({ privateKey: pem["plain.pub"] })))).toMatch(/public key|not a private key/);
    expect(sshKeyProblem("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----")).toMatch(/not a private key ssh can read/);
    expect(sshHopSchema.safeParse(hop({ username: "a b" })).success).toBe(false);
    expect(sshHopSchema.safeParse(hop({ host: "bad host;rm" })).success).toBe(false);
    expect(messages(sshHopSchema.safeParse(hop({ hostKeySha256: "MD5:aa:bb" })))).toMatch(/SHA256:/);
  });

  it("normalises a pasted fingerprint (padding, missing prefix) to ssh-keygen's spelling", () => {
    const body = "q".repeat(43);
    expect(sshHopSchema.parse(hop({ hostKeySha256: `${body}=` })).hostKeySha256).toBe(`SHA256:${body}`);
  });
});

describe("TLS fields", () => {
  it("accepts a certificate with its own key, refuses another key, a key alone, and non-PEM text", () => {
    expect(tlsFieldsSchema.safeParse({ clientCert: pem["a.crt"], clientKey: pem["a.key"], serverName: "db.internal" }).success).toBe(true);
    expect(messages(tlsFieldsSchema.safeParse({ clientCert: pem["a.crt"], clientKey: pem["b.key"] }))).toMatch(/does not belong to the client certificate/);
    expect(messages(tlsFieldsSchema.safeParse({ clientKey: pem["a.key"] }))).toMatch(/needs its certificate/);
    expect(messages(tlsFieldsSchema.safeParse({ clientCert: "hello" }))).toMatch(/PEM form/);
    expect(messages(tlsFieldsSchema.safeParse({ clientCert: pem["a.crt"], clientKey: "not a key" }))).toMatch(/client key cannot be read/);
    expect(tlsFieldsSchema.safeParse({ serverName: "not a name!" }).success).toBe(false);
  });
});

describe("the reach fields together", () => {
  it("reads a CA bundle, and refuses a bundle with a broken certificate", () => {
    expect(connectionReachSchema.safeParse({ sslCaCert: `${pem["a.crt"]}${pem["b.crt"]}` }).success).toBe(true);
    const broken = pem["b.crt"]!.replace(/\n[A-Za-z0-9+/]{20}/, "\n!!!!!!!!!!!!!!!!!!!!");
    expect(messages(connectionReachSchema.safeParse({ sslCaCert: `${pem["a.crt"]}${broken}` }))).toMatch(/certificate 2 of the PEM text cannot be read/);
  });

  it("takes replica names as the migration does, unique and never 'primary', and at most 8 hops", () => {
    const replica = (name: string) => ({ name, host: "10.0.0.2", port: 5432 });
    expect(connectionReachSchema.safeParse({ replicas: [replica("r1"), replica("eu-west.2")] }).success).toBe(true);
    expect(connectionReachSchema.safeParse({ replicas: [replica("-bad")] }).success).toBe(false);
    expect(messages(connectionReachSchema.safeParse({ replicas: [replica("r1"), replica("R1")] }))).toMatch(/taken/);
    expect(messages(connectionReachSchema.safeParse({ replicas: [replica("primary")] }))).toMatch(/taken/);
    expect(messages(connectionReachSchema.safeParse({ ssh: { hops: Array.from({ length: 9 }, () => hop()) } }))).toMatch(/at most 8/);
    expect(connectionReachSchema.safeParse({ replicaMaxLagMs: -1 }).success).toBe(false);
  });
});
