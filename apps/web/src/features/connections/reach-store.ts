import type { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import type { PrismaClient } from "@portcullis/db/client";
import type { SecretKeyring } from "@portcullis/db/secrets";
import type { reachInputShape } from "./reach-input";

type ReachValues = { [K in keyof typeof reachInputShape]?: z.output<(typeof reachInputShape)[K]> };

/** The issue-17 fields of a connection, secrets in plain text, as the connection test and the store take them. */
export interface ReachFields {
  ssh?: { hops: { host: string; port: number; username: string; privateKey: string; passphrase?: string; hostKeySha256?: string }[] };
  tls?: { clientCert?: string; clientKey?: string; serverName?: string };
  replicas?: { name: string; host: string; port: number }[];
  replicaMaxLagMs?: number;
}

/** What is stored of a connection's route and TLS, sealed. */
export interface StoredReach {
  id: string;
  sslClientCert: string | null;
  sslClientKeyCiphertext: string | null;
  sshHops: { position: number; host: string; port: number; username: string; privateKeyCiphertext: string; passphraseCiphertext: string | null }[];
}

// The contract's AADs (docs/design/reach.md), as packages/db's sealSshSecret / sealClientKey use them.
const sshContext = (id: string, position: number, kind: "key" | "passphrase") => `${id}:ssh:${position}:${kind}`;
const clientKeyContext = (id: string) => `${id}:ssl-key`;

function fieldError(path: string, message: string): PortcullisError {
  return new PortcullisError("invalid_input", message, { fieldErrors: { [`values.${path}`]: message } });
}

/**
 * Resolves the form's sections to plain fields. A blank key keeps the stored one only for the hop it
 * was stored for (same position, host, port and user): typed against another server it would let that
 * server's operator collect a signature made with the team's key, which nobody can read back.
 */
export function resolveReach(values: ReachValues, stored: StoredReach | null, keyring: SecretKeyring): ReachFields {
  const hops = (values.sshHops ?? []).map((hop, position) => {
    const before = stored?.sshHops.find((h) => h.position === position);
    const same = before && before.host === hop.host && before.port === hop.port && before.username === hop.username;
    let privateKey = hop.privateKey;
    let passphrase = hop.passphrase || undefined;
    if (!privateKey) {
      if (!same) throw fieldError(`sshHops.${position}.privateKey`, "paste the private key for this SSH host");
      privateKey = keyring.open(before.privateKeyCiphertext, sshContext(stored!.id, position, "key"));
      if (!passphrase && before.passphraseCiphertext) passphrase = keyring.open(before.passphraseCiphertext, sshContext(stored!.id, position, "passphrase"));
    }
    return { host: hop.host, port: hop.port, username: hop.username, privateKey, passphrase, hostKeySha256: hop.hostKeySha256 };
  });
  const tls = values.tls ?? {};
  let clientKey = tls.clientKey || undefined;
  if (tls.clientCert && !clientKey) {
    // The stored key goes with the stored certificate only: a new certificate needs its own key.
    if (!stored?.sslClientKeyCiphertext || stored.sslClientCert?.trim() !== tls.clientCert.trim())
      throw fieldError("tls.clientKey", "paste the client key that belongs to this certificate");
    clientKey = keyring.open(stored.sslClientKeyCiphertext, clientKeyContext(stored.id));
  }
  if (clientKey && !tls.clientCert) throw fieldError("tls.clientCert", "a client key needs its certificate");
  return {
    ssh: hops.length ? { hops } : undefined,
    tls: tls.clientCert || tls.serverName ? { clientCert: tls.clientCert || undefined, clientKey, serverName: tls.serverName || undefined } : undefined,
    replicas: values.replicas ?? [],
    replicaMaxLagMs: values.replicaMaxLagSeconds !== undefined ? values.replicaMaxLagSeconds * 1000 : undefined,
  };
}

type Tx = Pick<PrismaClient, "connection" | "connectionSshHop" | "connectionReplica">;

/**
 * Writes the route, TLS and replicas of a connection, replacing what was stored. A hop's confirmed
 * host key is whatever the form pinned (a fingerprint a test showed, which the test then verified).
 */
export async function writeReach(tx: Tx, teamId: string, connectionId: string, reach: ReachFields, keyring: SecretKeyring): Promise<void> {
  await tx.connection.update({
    where: { id: connectionId },
    data: {
      sslClientCert: reach.tls?.clientCert ?? null,
      sslClientKeyCiphertext: reach.tls?.clientKey ? keyring.seal(reach.tls.clientKey, clientKeyContext(connectionId)).ciphertext : null,
      sslServerName: reach.tls?.serverName ?? null,
      ...(reach.replicaMaxLagMs !== undefined ? { replicaMaxLagMs: reach.replicaMaxLagMs } : {}),
    },
  });
  await tx.connectionSshHop.deleteMany({ where: { connectionId } });
  const hops = reach.ssh?.hops ?? [];
  if (hops.length)
    await tx.connectionSshHop.createMany({
      data: hops.map((h, position) => ({
        connectionId, teamId, position, host: h.host, port: h.port, username: h.username,
        privateKeyCiphertext: keyring.seal(h.privateKey, sshContext(connectionId, position, "key")).ciphertext,
        passphraseCiphertext: h.passphrase ? keyring.seal(h.passphrase, sshContext(connectionId, position, "passphrase")).ciphertext : null,
        hostKeySha256: h.hostKeySha256 ?? null,
      })),
    });
  await tx.connectionReplica.deleteMany({ where: { connectionId } });
  const replicas = reach.replicas ?? [];
  if (replicas.length)
    await tx.connectionReplica.createMany({ data: replicas.map((r, position) => ({ connectionId, teamId, name: r.name, host: r.host, port: r.port, position })) });
}

/** What the audit trail records of the route: where it goes and what is pinned, never a secret. */
export function reachAuditView(reach: ReachFields) {
  return {
    sshHops: reach.ssh?.hops.map((h) => ({ host: h.host, port: h.port, username: h.username, hostKeySha256: h.hostKeySha256 ?? null })) ?? [],
    sslClientCert: Boolean(reach.tls?.clientCert),
    sslServerName: reach.tls?.serverName ?? null,
    replicas: reach.replicas ?? [],
  };
}
