import { randomUUID } from "node:crypto";
import pg from "pg";
import type { PrismaClient, SslMode } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { tlsOptions, targetClientConfig, type TargetConnectionRow } from "../target.js";

export interface ConnectionFields {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  sslMode: SslMode;
  sslCaCert?: string | null;
}

export interface ConnectionTestResult {
  ok: boolean;
  serverVersion?: string;
  latencyMs?: number;
  error?: string;
  code?: string;
}

/** Turns driver errors into a sentence that says what to fix, without echoing the password. */
export function explainConnectionError(error: unknown, fields: Pick<ConnectionFields, "host" | "port" | "database" | "username">): string {
  const e = error as { code?: string; message?: string };
  const where = `${fields.host}:${fields.port}`;
  switch (e.code) {
    case "ECONNREFUSED":
      return `nothing is accepting connections at ${where}: check the host and port, and that PostgreSQL listens there`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `the host name "${fields.host}" does not resolve`;
    case "ETIMEDOUT":
      return `connecting to ${where} timed out: a firewall may be dropping the traffic`;
    case "28P01":
      return `password authentication failed for user "${fields.username}"`;
    case "28000":
      return `the server refused user "${fields.username}" (pg_hba.conf has no matching entry, or SSL is required)`;
    case "3D000":
      return `database "${fields.database}" does not exist on ${where}`;
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
      return `the server's TLS certificate is not trusted: add its CA certificate, or use SSL mode "require"`;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return `the server's TLS certificate does not name "${fields.host}": use verify-ca, or connect by the certificate's name`;
  }
  const message = (e.message ?? String(error)).replace(/password[^\s]*\s*=\s*\S+/gi, "password=***");
  if (/does not support SSL/i.test(message)) return `the server does not support SSL: set SSL mode to "disable" or enable SSL on the server`;
  if (/timeout/i.test(message)) return `connecting to ${where} timed out after 5 s`;
  return message;
}

/** Connects, asks the server version, and measures one round trip. */
export async function testConnectionFields(fields: ConnectionFields): Promise<ConnectionTestResult> {
  const client = new pg.Client({
    host: fields.host,
    port: fields.port,
    database: fields.database,
    user: fields.username,
    password: fields.password,
    ssl: tlsOptions({ host: fields.host, sslMode: fields.sslMode, sslCaCert: fields.sslCaCert ?? null }),
    connectionTimeoutMillis: 5000,
    application_name: "portcullis-test",
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const started = performance.now();
    const { rows } = await client.query<{ server_version: string }>("SHOW server_version");
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;
    return { ok: true, serverVersion: rows[0]?.server_version, latencyMs };
  } catch (error) {
    return { ok: false, error: explainConnectionError(error, fields), code: (error as { code?: string }).code };
  } finally {
    await client.end().catch(() => {});
  }
}

export async function addConnection(
  prisma: PrismaClient,
  input: { teamId: string; name: string; fields: ConnectionFields; test?: boolean; sampleValuesOptIn?: boolean },
  keyring: SecretKeyring = getKeyring(),
) {
  const name = input.name.trim();
  if (!name) throw new PortcullisError("invalid_input", "a connection needs a name");
  const team = await prisma.team.findUnique({ where: { id: input.teamId }, include: { _count: { select: { connections: true } } } });
  if (!team) throw new PortcullisError("not_found", "team not found");
  if (team.maxConnections !== null && team._count.connections >= team.maxConnections) {
    throw new PortcullisError(
      "plan_limit",
      `the ${team.plan} plan allows ${team.maxConnections} connection${team.maxConnections === 1 ? "" : "s"}; delete one or upgrade`,
    );
  }
  const test = input.test === false ? undefined : await testConnectionFields(input.fields);
  if (test && !test.ok) throw new PortcullisError("invalid_input", `connection test failed: ${test.error}`, { test });

  const id = randomUUID();
  const sealed = keyring.seal(input.fields.password, id);
  try {
    return await prisma.connection.create({
      data: {
        id,
        teamId: input.teamId,
        name,
        host: input.fields.host,
        port: input.fields.port,
        database: input.fields.database,
        username: input.fields.username,
        secretCiphertext: sealed.ciphertext,
        secretKeyId: sealed.keyId,
        sslMode: input.fields.sslMode,
        sslCaCert: input.fields.sslCaCert ?? null,
        sampleValuesOptIn: input.sampleValuesOptIn ?? false,
        status: test ? "ok" : "untested",
        lastTestedAt: test ? new Date() : null,
        lastTestResult: test ? { ...test } : undefined,
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this team already has a connection named "${name}"`);
    throw error;
  }
}

/** Re-tests a stored connection and records the result. */
export async function retestConnection(prisma: PrismaClient, connectionId: string, keyring: SecretKeyring = getKeyring()) {
  const row = await prisma.connection.findUnique({ where: { id: connectionId } });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  const config = targetClientConfig(row as TargetConnectionRow, keyring);
  const result = await testConnectionFields({
    host: row.host,
    port: row.port,
    database: row.database,
    username: row.username,
    password: String(config.password),
    sslMode: row.sslMode,
    sslCaCert: row.sslCaCert,
  });
  await prisma.connection.update({
    where: { id: connectionId },
    data: { status: result.ok ? "ok" : "error", lastTestedAt: new Date(), lastTestResult: { ...result } },
  });
  return result;
}

/**
 * Re-seals every connection secret under the keyring's primary key. Run after putting a new key first
 * in PORTCULLIS_SECRET_KEYS; once it reports zero remaining, the old key can be removed.
 */
export async function reencryptSecrets(prisma: PrismaClient, keyring: SecretKeyring = getKeyring()) {
  const stale = await prisma.connection.findMany({
    where: { secretKeyId: { not: keyring.primary.id } },
    select: { id: true, secretCiphertext: true },
  });
  for (const row of stale) {
    const sealed = keyring.seal(keyring.open(row.secretCiphertext, row.id), row.id);
    // Guarded on the old ciphertext so a concurrent password change is not overwritten.
    await prisma.connection.updateMany({
      where: { id: row.id, secretCiphertext: row.secretCiphertext },
      data: { secretCiphertext: sealed.ciphertext, secretKeyId: sealed.keyId },
    });
  }
  const remaining = await prisma.connection.count({ where: { secretKeyId: { not: keyring.primary.id } } });
  return { reencrypted: stale.length, remaining, primaryKeyId: keyring.primary.id };
}
