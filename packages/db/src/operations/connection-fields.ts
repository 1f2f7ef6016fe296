import { X509Certificate, createPrivateKey, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { z } from "zod";
import type { SslMode } from "../client.js";
import { SecretKeyring } from "../secrets/index.js";
import { normalizeFingerprint } from "../ssh/fingerprint.js";
import { sealSshSecret } from "../ssh/secrets.js";
import { sealClientKey } from "../target-tls.js";
import { keyProblemField, sshHopKeysProblem, sshKeyShapeProblem } from "./connection-key-check.js";
import type { TargetConnectionRow } from "../target.js";

/** One SSH hop as the dashboard and CLI give it; the private key is absent on an edit that keeps the stored one. */
export interface SshHopFields {
  host: string;
  port: number;
  username: string;
  privateKey?: string;
  passphrase?: string | null;
  /** A fingerprint the operator confirmed ("SHA256:…"); absent: confirmed later, after the first test. */
  hostKeySha256?: string | null;
}

export interface ConnectionFields {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  sslMode: SslMode;
  sslCaCert?: string | null;
  /** The SSH route, in dialling order (the last hop forwards to host:port). */
  ssh?: { hops: SshHopFields[] } | null;
  /** mTLS and the name verify-full checks; the key is absent on an edit that keeps the stored one. */
  tls?: { clientCert?: string | null; clientKey?: string | null; serverName?: string | null } | null;
  replicas?: { name: string; host: string; port: number }[];
  replicaMaxLagMs?: number;
}

// Names as the migration's CHECK constraints have them.
export const REPLICA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const SSH_USER = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

const host = z
  .string()
  .trim()
  .min(1, "enter the host name or IP address")
  .max(253)
  .refine((h) => isIP(h.replace(/^\[|\]$/g, "")) !== 0 || HOST_NAME.test(h), "not a host name or IP address");
const port = (fallback: number) => z.number("the port is a whole number").int("the port is a whole number").min(1).max(65535, "ports go up to 65535").default(fallback);

/** PEM certificates that Node can read; a bundle may hold several. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error("paste the certificate in PEM form (-----BEGIN CERTIFICATE-----…)");
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new Error(`certificate ${i + 1} of the PEM text cannot be read`);
    }
  });
}

const certificatePem = (what: string) =>
  z
    .string()
    .trim()
    .max(64_000)
    .superRefine((pem, ctx) => {
      try {
        parseCertificates(pem);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: `${what}: ${(error as Error).message}` });
      }
    });

/**
 * Why an SSH private key cannot be used, as far as the synchronous schema can tell without costly work;
 * a passphrase-protected OpenSSH key is only checked for its shape and round count here, its passphrase
 * by the operations (sshKeyProblemAsync, on a worker thread). The key text never appears in the answer.
 */
export const sshKeyProblem = sshKeyShapeProblem;

export const sshHopSchema = z
  .strictObject({
    host,
    port: port(22),
    username: z.string().trim().regex(SSH_USER, "enter the SSH user name"),
    privateKey: z.string().max(32_000).optional(),
    passphrase: z.string().max(1_000).nullish(),
    hostKeySha256: z
      .string()
      .trim()
      .nullish()
      .transform((v, ctx) => {
        if (!v) return null;
        const normal = normalizeFingerprint(v);
        if (!normal) ctx.addIssue({ code: "custom", message: "a host key fingerprint looks like SHA256:… (43 characters of base64), as ssh-keygen -lf prints it" });
        return normal;
      }),
  })
  .superRefine((hop, ctx) => {
    if (hop.privateKey === undefined || hop.privateKey === "") return;
    const problem = sshKeyShapeProblem(hop.privateKey, hop.passphrase);
    if (problem) ctx.addIssue({ code: "custom", path: [keyProblemField(problem)], message: problem });
  });

export const sshRouteSchema = z.strictObject({ hops: z.array(sshHopSchema).min(1, "an SSH route has at least one hop").max(8, "at most 8 SSH hops") });

export const tlsFieldsSchema = z
  .strictObject({
    clientCert: certificatePem("the client certificate").nullish(),
    clientKey: z.string().trim().max(32_000).nullish(),
    serverName: z
      .string()
      .trim()
      .max(253)
      .nullish()
      .refine((v) => !v || isIP(v) !== 0 || HOST_NAME.test(v), "the server name is a host name (as the certificate names it) or an IP address"),
  })
  .superRefine((tls, ctx) => {
    if (tls.clientKey) {
      let key;
      try {
        key = createPrivateKey(tls.clientKey);
      } catch {
        ctx.addIssue({ code: "custom", path: ["clientKey"], message: "the client key cannot be read: paste an unencrypted private key in PEM form (-----BEGIN PRIVATE KEY-----…)" });
        return;
      }
      if (!tls.clientCert) ctx.addIssue({ code: "custom", path: ["clientCert"], message: "a client key needs its certificate" });
      else if (!parseCertificates(tls.clientCert)[0]!.checkPrivateKey(key))
        ctx.addIssue({ code: "custom", path: ["clientKey"], message: "this key does not belong to the client certificate" });
    }
  });

export const replicaSchema = z.strictObject({
  name: z.string().trim().regex(REPLICA_NAME, "a replica name is letters, digits, _ . - (up to 63, starting with a letter or digit)"),
  host,
  port: port(5432),
});

/** The issue-17 parts of a connection, parsed at every boundary (dashboard actions, CLI). */
export const connectionReachSchema = z
  .strictObject({
    ssh: sshRouteSchema.nullish(),
    tls: tlsFieldsSchema.nullish(),
    replicas: z.array(replicaSchema).max(16, "at most 16 replicas").default([]),
    replicaMaxLagMs: z.number().int().min(0).max(86_400_000, "at most a day").default(30_000),
    sslCaCert: certificatePem("the CA certificate").nullish(),
  })
  .superRefine((v, ctx) => {
    const names = new Set<string>();
    for (const [i, r] of v.replicas.entries()) {
      if (names.has(r.name.toLowerCase()) || r.name.toLowerCase() === "primary") ctx.addIssue({ code: "custom", path: ["replicas", i, "name"], message: `the name "${r.name}" is taken` });
      names.add(r.name.toLowerCase());
    }
  });
export type ConnectionReachInput = z.input<typeof connectionReachSchema>;

/**
 * Refuses fields no parse at the boundary let through (operations are called by scripts too): the same
 * schema, so the dashboard, the CLI and the shared operation agree, and then what the synchronous
 * schema leaves to an awaited check: a protected key's passphrase, opened off the event loop.
 */
export async function assertReachFields(fields: ConnectionFields, options: { keysRequired: boolean }): Promise<void> {
  const parsed = connectionReachSchema.safeParse({
    ssh: fields.ssh ?? null,
    tls: fields.tls ?? null,
    replicas: fields.replicas ?? [],
    replicaMaxLagMs: fields.replicaMaxLagMs ?? 30_000,
    sslCaCert: fields.sslCaCert || null,
  });
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  if (options.keysRequired)
    for (const [i, hop] of (fields.ssh?.hops ?? []).entries()) if (!hop.privateKey) throw new Error(`ssh.hops.${i}.privateKey: enter the private key for ${hop.username}@${hop.host}`);
  if (options.keysRequired && fields.tls?.clientCert && !fields.tls.clientKey) throw new Error("tls.clientKey: a client certificate needs its key");
  const keyProblem = await sshHopKeysProblem(fields.ssh?.hops ?? []);
  if (keyProblem) throw new Error(`${keyProblem.field}: ${keyProblem.message}`);
}

/** The sealed form of a connection's issue-17 secrets and settings, as stored. */
export interface SealedReach {
  sslClientCert: string | null;
  sslClientKeyCiphertext: string | null;
  sslServerName: string | null;
  replicaMaxLagMs: number;
  hops: {
    position: number;
    host: string;
    port: number;
    username: string;
    privateKeyCiphertext: string;
    passphraseCiphertext: string | null;
    hostKeySha256: string | null;
  }[];
  replicas: { name: string; host: string; port: number; position: number }[];
}

/** Seals keys with the connection's id (and hop position) as AAD, for storage or an in-memory test row. */
export function sealReach(fields: ConnectionFields, connectionId: string, keyring: SecretKeyring): SealedReach {
  const cert = fields.tls?.clientCert?.trim() || null;
  const key = fields.tls?.clientKey?.trim() || null;
  return {
    sslClientCert: cert,
    sslClientKeyCiphertext: cert && key ? sealClientKey(keyring, connectionId, key).ciphertext : null,
    sslServerName: fields.tls?.serverName?.trim() || null,
    replicaMaxLagMs: fields.replicaMaxLagMs ?? 30_000,
    hops: (fields.ssh?.hops ?? []).map((hop, position) => {
      if (!hop.privateKey) throw new Error(`hop ${position + 1} has no private key`);
      return {
        position,
        host: hop.host.trim(),
        port: hop.port,
        username: hop.username.trim(),
        privateKeyCiphertext: sealSshSecret(keyring, connectionId, position, "key", hop.privateKey),
        passphraseCiphertext: hop.passphrase ? sealSshSecret(keyring, connectionId, position, "passphrase", hop.passphrase) : null,
        hostKeySha256: normalizeFingerprint(hop.hostKeySha256),
      };
    }),
    replicas: (fields.replicas ?? []).map((r, position) => ({ name: r.name.trim(), host: r.host.trim(), port: r.port, position })),
  };
}

/** A keyring that lives only for one test of unsaved fields: nothing sealed with it is ever stored. */
export function ephemeralKeyring(): SecretKeyring {
  return new SecretKeyring([{ id: "ephemeral", key: randomBytes(32) }]);
}

/** The row openTargetRoute takes, for fields not (or not yet) stored. */
export function rowFromFields(fields: ConnectionFields, connectionId: string, keyring: SecretKeyring): TargetConnectionRow {
  const reach = sealReach(fields, connectionId, keyring);
  return {
    id: connectionId,
    host: fields.host,
    port: fields.port,
    database: fields.database,
    username: fields.username,
    secretCiphertext: keyring.seal(fields.password, connectionId).ciphertext,
    sslMode: fields.sslMode,
    sslCaCert: fields.sslCaCert ?? null,
    sslClientCert: reach.sslClientCert,
    sslClientKeyCiphertext: reach.sslClientKeyCiphertext,
    sslServerName: reach.sslServerName,
    sshHops: reach.hops,
    replicas: reach.replicas,
    replicaMaxLagMs: reach.replicaMaxLagMs,
  };
}
