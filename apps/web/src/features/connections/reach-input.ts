import { z } from "zod";

/**
 * The connection form's issue-17 sections (SSH route, TLS client certificate, read replicas) as the
 * browser posts them. Secrets are write-only: a blank key or passphrase on edit means "keep the stored
 * one", which operations.ts allows only for the same hop (position, host, port, user) it was stored for.
 */
export const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]+-----END [A-Z0-9 ]*PRIVATE KEY-----/;
const HOST = /^[A-Za-z0-9._:[\]-]{1,255}$/;
const port = (fallback: number) =>
  z.number("the port is a whole number").int("the port is a whole number").min(1, "ports start at 1").max(65535, "ports go up to 65535").default(fallback);

export const sshHopInputSchema = z.strictObject({
  host: z.string().trim().min(1, "enter the SSH host").regex(HOST, "a host name or IP address, without spaces"),
  port: port(22),
  username: z.string().trim().min(1, "enter the SSH user").max(64).regex(/^[A-Za-z0-9._@-]+$/, "letters, digits, . _ @ -"),
  privateKey: z
    .string()
    .max(20_000)
    .optional()
    .refine((v) => !v || PEM_KEY.test(v), "paste the private key file (-----BEGIN OPENSSH PRIVATE KEY-----…)"),
  passphrase: z.string().max(1000).optional(),
  /** The pinned host key. Only ever a fingerprint a test showed (the Confirm button) or one typed in. */
  hostKeySha256: z.string().trim().regex(FINGERPRINT, "a fingerprint as ssh-keygen -lf prints it: SHA256:…").optional(),
});

export const tlsInputSchema = z.strictObject({
  clientCert: z
    .string()
    .trim()
    .max(20_000)
    .optional()
    .refine((v) => !v || PEM_CERT.test(v), "paste the client certificate in PEM form (-----BEGIN CERTIFICATE-----…)"),
  clientKey: z
    .string()
    .trim()
    .max(20_000)
    .optional()
    .refine((v) => !v || PEM_KEY.test(v), "paste the client key in PEM form (-----BEGIN PRIVATE KEY-----…)"),
  serverName: z.string().trim().max(255).regex(/^$|^[A-Za-z0-9.-]+$/, "a DNS name, e.g. db.internal").optional(),
});

export const replicaInputSchema = z.strictObject({
  name: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, "letters, digits, _ . - (up to 63)"),
  host: z.string().trim().min(1, "enter the replica's host").regex(HOST, "a host name or IP address, without spaces"),
  port: port(5432),
});

export const reachInputShape = {
  sshHops: z.array(sshHopInputSchema).max(8, "at most 8 SSH hops").optional(),
  tls: tlsInputSchema.optional(),
  replicas: z
    .array(replicaInputSchema)
    .max(16, "at most 16 replicas")
    .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, "each replica needs its own name")
    .optional(),
  replicaMaxLagSeconds: z.number("a whole number of seconds").int("a whole number of seconds").min(1, "at least 1 second").max(86_400).optional(),
};

export type SshHopInput = z.input<typeof sshHopInputSchema>;
export type TlsInput = z.input<typeof tlsInputSchema>;
export type ReplicaInput = z.input<typeof replicaInputSchema>;
