import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { describeTargetFailure, type TargetFailureFields } from "../target-failure.js";
import type { TargetConnectionRow } from "../target.js";
import { assertReachFields, sealReach, type ConnectionFields, type SealedReach } from "./connection-fields.js";
import { completeFieldsFromStored } from "./connection-secrets.js";
import { isFirstUseOnly, loadTargetRow, recordOfferedHostKeys, storedResult } from "./connection-stored.js";
import { testConnectionRow, type ConnectionTestOptions, type ConnectionTestResult } from "./connection-test.js";

export * from "./connection-fields.js";
export * from "./connection-roles.js";
export * from "./connection-test.js";
export { completeFieldsFromStored, reencryptSecrets } from "./connection-secrets.js";
export { confirmHostKey, recordOfferedForStoredHops } from "./connection-host-keys.js";
export { loadTargetRow } from "./connection-stored.js";

/** Turns driver errors into a sentence that says what to fix, without echoing the password (see describeTargetFailure). */
export function explainConnectionError(error: unknown, fields: TargetFailureFields): string {
  return describeTargetFailure(error, fields).message;
}

function invalid(error: unknown): never {
  throw new PortcullisError("invalid_input", (error as Error).message);
}

/** Runs `fn` in a transaction, or directly on a client that already is one (the dashboard passes its own). */
function inTransaction<T>(prisma: PrismaClient, fn: (tx: PrismaClient) => Promise<T>): Promise<T> {
  return typeof prisma.$transaction === "function" ? prisma.$transaction((tx) => fn(tx as unknown as PrismaClient)) : fn(prisma);
}

function targetRow(id: string, fields: ConnectionFields, passwordCiphertext: string, reach: SealedReach): TargetConnectionRow {
  return {
    id,
    host: fields.host,
    port: fields.port,
    database: fields.database,
    username: fields.username,
    secretCiphertext: passwordCiphertext,
    sslMode: fields.sslMode,
    sslCaCert: fields.sslCaCert || null,
    sslClientCert: reach.sslClientCert,
    sslClientKeyCiphertext: reach.sslClientKeyCiphertext,
    sslServerName: reach.sslServerName,
    sshHops: reach.hops,
    replicas: reach.replicas,
    replicaMaxLagMs: reach.replicaMaxLagMs,
  };
}

/**
 * Whether a failed test still lets the connection be saved: only when the one thing missing is the
 * operator's confirmation of a host key seen for the first time. The row then stays unusable (a route
 * refuses an unconfirmed key) until confirmHostKey pins exactly what the server offered.
 */
function assertSavable(test: ConnectionTestResult | undefined, hasHops: boolean): void {
  if (!test || test.ok) return;
  if (hasHops && isFirstUseOnly(test)) return;
  throw new PortcullisError("invalid_input", `connection test failed: ${test.error}`, { test: storedResult(test) });
}

function status(test: ConnectionTestResult | undefined) {
  return test ? (test.ok ? "ok" : "error") : "untested";
}

export async function addConnection(
  prisma: PrismaClient,
  input: { teamId: string; name: string; fields: ConnectionFields; test?: boolean; tested?: ConnectionTestResult; sampleValuesOptIn?: boolean },
  keyring: SecretKeyring = getKeyring(),
  testOptions: ConnectionTestOptions = {},
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
  try {
    await assertReachFields(input.fields, { keysRequired: true });
  } catch (error) {
    invalid(error);
  }
  const id = randomUUID();
  const sealed = keyring.seal(input.fields.password, id);
  const reach = sealReach(input.fields, id, keyring);
  // `test: false` is for operators' scripts and fixtures that vouch for the target; a caller that
  // tested already (the dashboard, before its transaction) hands its result over as `tested`.
  const test =
    input.tested ??
    (input.test === false ? undefined : await testConnectionRow(targetRow(id, input.fields, sealed.ciphertext, reach), keyring, { metadata: prisma, ...testOptions }));
  assertSavable(test, reach.hops.length > 0);

  try {
    const row = await prisma.connection.create({
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
        sslCaCert: input.fields.sslCaCert || null,
        sslClientCert: reach.sslClientCert,
        sslClientKeyCiphertext: reach.sslClientKeyCiphertext,
        sslServerName: reach.sslServerName,
        replicaMaxLagMs: reach.replicaMaxLagMs,
        sampleValuesOptIn: input.sampleValuesOptIn ?? false,
        status: status(test),
        lastTestedAt: test ? new Date() : null,
        lastTestResult: test ? storedResult(test) : undefined,
        rolePrivileges: test?.role ? { ...test.role } : undefined,
        // Nested: one statement, so a connection never exists without its route.
        sshHops: reach.hops.length ? { create: reach.hops } : undefined,
        replicas: reach.replicas.length ? { create: reach.replicas } : undefined,
      },
    });
    if (test) await recordOfferedHostKeys(prisma, input.teamId, id, test);
    return row;
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this team already has a connection named "${name}"`);
    throw error;
  }
}

/**
 * Changes a stored connection (tested first, like adding one). A hop or a client key given without
 * its secret keeps the stored one, but only for the same server and user (see completeFieldsFromStored).
 * The route and replicas are replaced as a whole; pinned host keys stay with their host:port.
 */
export async function updateConnection(
  prisma: PrismaClient,
  input: { teamId: string; connectionId: string; name?: string; fields: ConnectionFields; tested?: ConnectionTestResult; test?: boolean },
  keyring: SecretKeyring = getKeyring(),
  testOptions: ConnectionTestOptions = {},
) {
  const { stored } = await loadTargetRow(prisma, input.connectionId, input.teamId);
  let fields: ConnectionFields;
  try {
    fields = await completeFieldsFromStored(prisma, input.teamId, input.connectionId, input.fields, keyring);
    await assertReachFields(fields, { keysRequired: true });
  } catch (error) {
    if (error instanceof PortcullisError) throw error;
    invalid(error);
  }
  const sealed = keyring.seal(fields.password, stored.id);
  const reach = sealReach(fields, stored.id, keyring);
  const test =
    input.tested ??
    (input.test === false ? undefined : await testConnectionRow(targetRow(stored.id, fields, sealed.ciphertext, reach), keyring, { metadata: prisma, ...testOptions }));
  assertSavable(test, reach.hops.length > 0);
  const name = input.name?.trim() || stored.name;
  try {
    const row = await inTransaction(prisma, async (tx) => {
      const updated = await tx.connection.update({
        where: { id: stored.id, teamId: input.teamId },
        data: {
          name,
          host: fields.host,
          port: fields.port,
          database: fields.database,
          username: fields.username,
          secretCiphertext: sealed.ciphertext,
          secretKeyId: sealed.keyId,
          sslMode: fields.sslMode,
          sslCaCert: fields.sslCaCert || null,
          sslClientCert: reach.sslClientCert,
          sslClientKeyCiphertext: reach.sslClientKeyCiphertext,
          sslServerName: reach.sslServerName,
          replicaMaxLagMs: reach.replicaMaxLagMs,
          status: status(test),
          lastTestedAt: test ? new Date() : null,
          lastTestResult: test ? storedResult(test) : undefined,
          ...(test?.role ? { rolePrivileges: { ...test.role } } : {}),
        },
      });
      await tx.connectionSshHop.deleteMany({ where: { connectionId: stored.id, teamId: input.teamId } });
      if (reach.hops.length) await tx.connectionSshHop.createMany({ data: reach.hops.map((h) => ({ ...h, connectionId: stored.id, teamId: input.teamId })) });
      await tx.connectionReplica.deleteMany({ where: { connectionId: stored.id, teamId: input.teamId } });
      if (reach.replicas.length) await tx.connectionReplica.createMany({ data: reach.replicas.map((r) => ({ ...r, connectionId: stored.id, teamId: input.teamId })) });
      if (test) await recordOfferedHostKeys(tx, input.teamId, stored.id, test);
      return updated;
    });
    return { connection: row, test };
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this team already has a connection named "${name}"`);
    throw error;
  }
}

/**
 * Re-tests a stored connection (through its route, every replica too) and records the result, and the
 * host keys its hops offered when not the confirmed ones. Pass `{ teamId, connectionId }`: a connection
 * of another team is "not found". A bare id is for operators' tools that resolved the team already.
 */
export async function retestConnection(
  prisma: PrismaClient,
  ref: string | { teamId: string; connectionId: string },
  keyring: SecretKeyring = getKeyring(),
  testOptions: ConnectionTestOptions = {},
) {
  const { connectionId, teamId } = typeof ref === "string" ? { connectionId: ref, teamId: undefined } : ref;
  const { stored, target } = await loadTargetRow(prisma, connectionId, teamId);
  const result = await testConnectionRow(target, keyring, { metadata: prisma, ...testOptions });
  await prisma.connection.update({
    where: { id: stored.id },
    data: {
      status: result.ok ? "ok" : "error",
      lastTestedAt: new Date(),
      lastTestResult: storedResult(result),
      // A role made superuser since the last test is recorded as such, so its links stop passing.
      ...(result.role ? { rolePrivileges: { ...result.role } } : {}),
    },
  });
  await recordOfferedHostKeys(prisma, stored.teamId, stored.id, result);
  return result;
}
