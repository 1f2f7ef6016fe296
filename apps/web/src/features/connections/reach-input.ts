import { z } from "zod";
import { replicaSchema, sshHopSchema, tlsFieldsSchema } from "@portcullis/db/operations";

/**
 * The connection form's issue-17 sections (SSH route, TLS client certificate, read replicas) as the
 * browser posts them, parsed with the shared schemas the CLI's operation also applies (a key that does
 * not parse, a passphrase that does not open it, a certificate and key that do not match are refused
 * here). Secrets are write-only: a blank key or passphrase on edit means "keep the stored one", which
 * completeFieldsFromStored allows only for the same server and user it was stored for.
 */
export const reachInputShape = {
  sshHops: z.array(sshHopSchema).max(8, "at most 8 SSH hops").optional(),
  tls: tlsFieldsSchema.optional(),
  replicas: z
    .array(replicaSchema)
    .max(16, "at most 16 replicas")
    .refine((rs) => new Set(rs.map((r) => r.name.toLowerCase())).size === rs.length, "each replica needs its own name")
    .optional(),
  replicaMaxLagSeconds: z.number("a whole number of seconds").int("a whole number of seconds").min(1, "at least 1 second").max(86_400, "at most a day").optional(),
};
