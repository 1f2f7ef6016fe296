import type { Prisma, PrismaClient } from "../client.js";
import { PortcullisError } from "../errors.js";
import type { TargetConnectionRow } from "../target.js";
import type { ConnectionTestResult } from "./connection-test.js";

/** A stored connection as openTargetRoute takes it, hops and replicas in order; another team's id is "not found". */
export async function loadTargetRow(prisma: PrismaClient, connectionId: string, teamId?: string) {
  const row = await prisma.connection.findFirst({
    where: { id: connectionId, ...(teamId ? { teamId } : {}) },
    include: { sshHops: { orderBy: { position: "asc" } }, replicas: { orderBy: { position: "asc" } } },
  });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  const target: TargetConnectionRow = {
    id: row.id,
    host: row.host,
    port: row.port,
    database: row.database,
    username: row.username,
    secretCiphertext: row.secretCiphertext,
    sslMode: row.sslMode,
    sslCaCert: row.sslCaCert,
    sslClientCert: row.sslClientCert,
    sslClientKeyCiphertext: row.sslClientKeyCiphertext,
    sslServerName: row.sslServerName,
    replicaMaxLagMs: row.replicaMaxLagMs,
    sshHops: row.sshHops.map((h) => ({
      position: h.position,
      host: h.host,
      port: h.port,
      username: h.username,
      privateKeyCiphertext: h.privateKeyCiphertext,
      passphraseCiphertext: h.passphraseCiphertext,
      hostKeySha256: h.hostKeySha256,
    })),
    replicas: row.replicas.map((r) => ({ name: r.name, host: r.host, port: r.port })),
  };
  return { stored: row, target };
}

/** The test result as stored on the row (the role's facts have their own column). */
export function storedResult(result: ConnectionTestResult): Prisma.InputJsonObject {
  const { role: _role, ...rest } = result;
  return JSON.parse(JSON.stringify(rest)) as Prisma.InputJsonObject;
}

/**
 * Keeps what each hop offered when it was not the confirmed key, for the dashboard to show and for
 * confirmHostKey to compare with: only a fingerprint a server really offered can be pinned.
 */
export async function recordOfferedHostKeys(prisma: PrismaClient, teamId: string, connectionId: string, result: ConnectionTestResult): Promise<void> {
  for (const key of result.hostKeys ?? []) {
    if (key.offered === key.pinned) continue;
    await prisma.connectionSshHop.updateMany({
      where: { connectionId, teamId, position: key.position },
      data: { hostKeySeenSha256: key.offered, hostKeySeenAt: new Date() },
    });
  }
}

/** First use of a host key: nothing pinned yet on the hop that stopped the test. A changed key is not this. */
export function isFirstUseOnly(result: ConnectionTestResult): boolean {
  return !result.ok && result.stage === "ssh_host_key" && (result.hostKeys ?? []).length > 0 && result.hostKeys!.every((k) => k.pinned === null);
}
