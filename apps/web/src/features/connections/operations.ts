import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import type { PrismaClient } from "@portcullis/db/client";
import {
  addConnection,
  completeFieldsFromStored,
  confirmHostKey,
  recordOfferedForStoredHops,
  testConnectionFields,
  updateConnection as updateStoredConnection,
  type ConnectionFields,
  type ConnectionTestResult,
} from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import { idOrNotFound, requireRole, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { enqueueIntrospection, publishRevocation } from "../../lib/redis";
import { reachInputShape } from "./reach-input";

const SSL_MODES = ["disable", "prefer", "require", "verify_ca", "verify_full"] as const;

export const connectionInputSchema = z
  .strictObject({
    name: z.string().trim().min(1, "give the connection a name").max(60, "keep the name under 60 characters"),
    mode: z.enum(["url", "fields"]),
    url: z.string().trim().max(2000).optional(),
    host: z.string().trim().max(255).optional(),
    port: z.number("the port is a whole number").int("the port is a whole number").min(1).max(65535, "ports go up to 65535").optional(),
    database: z.string().trim().max(63).optional(),
    username: z.string().trim().max(63).optional(),
    /** Empty on edit means "keep the stored password": it is write-only and never sent back. */
    password: z.string().max(1000).optional(),
    sslMode: z.enum(SSL_MODES).default("prefer"),
    sslCaCert: z.string().trim().max(20_000).optional(),
    ...reachInputShape,
  })
  .superRefine((v, ctx) => {
    if (v.mode === "url") {
      if (!v.url) ctx.addIssue({ code: "custom", path: ["url"], message: "paste a postgresql:// URL" });
      else {
        try {
          parseTargetUrl(v.url);
        } catch (error) {
          ctx.addIssue({ code: "custom", path: ["url"], message: (error as Error).message });
        }
      }
    } else {
      if (!v.host) ctx.addIssue({ code: "custom", path: ["host"], message: "enter the host name or IP address" });
      if (!v.database) ctx.addIssue({ code: "custom", path: ["database"], message: "enter the database name" });
      if (!v.username) ctx.addIssue({ code: "custom", path: ["username"], message: "enter the user name" });
    }
    if ((v.sslMode === "verify_ca" || v.sslMode === "verify_full") && v.sslCaCert && !v.sslCaCert.includes("BEGIN CERTIFICATE")) {
      ctx.addIssue({ code: "custom", path: ["sslCaCert"], message: "paste the CA certificate in PEM form (-----BEGIN CERTIFICATE-----…)" });
    }
  });
export type ConnectionInput = z.input<typeof connectionInputSchema>;
export type ConnectionValues = z.output<typeof connectionInputSchema>;

type StoredConnection = { id: string; host: string; port: number; database: string; username: string; secretCiphertext: string };

/**
 * Resolves the form to concrete fields. A blank password, key or client key on edit falls back to the
 * stored one only where completeFieldsFromStored allows it (the whole route unchanged): decided there
 * alone, so the dashboard cannot reuse a secret the shared rule refuses.
 */
async function toFields(input: z.output<typeof connectionInputSchema>, stored?: StoredConnection | null, teamId?: string): Promise<ConnectionFields> {
  let fields: Omit<ConnectionFields, "sslMode" | "sslCaCert"> & { sslMode?: ConnectionFields["sslMode"] };
  if (input.mode === "url") {
    const parsed = parseTargetUrl(input.url!);
    // An explicit sslmode in the URL wins over the select, as psql would do.
    fields = { ...parsed, sslMode: /sslmode=/i.test(input.url!) ? parsed.sslMode : undefined };
  } else {
    fields = { host: input.host!, port: input.port ?? 5432, database: input.database!, username: input.username!, password: input.password ?? "" };
  }
  const hops = input.sshHops ?? [];
  const complete: ConnectionFields = {
    ...fields,
    sslMode: fields.sslMode ?? input.sslMode,
    sslCaCert: input.sslCaCert || null,
    ssh: hops.length ? { hops: hops.map((h) => ({ ...h, privateKey: h.privateKey || undefined, passphrase: h.passphrase || undefined })) } : null,
    tls: input.tls?.clientCert || input.tls?.serverName ? input.tls : null,
    replicas: input.replicas ?? [],
    replicaMaxLagMs: input.replicaMaxLagSeconds !== undefined ? input.replicaMaxLagSeconds * 1000 : undefined,
  };
  if (!stored || !teamId) return complete;
  try {
    return await completeFieldsFromStored(getPrisma(), teamId, stored.id, complete, getKeyring());
  } catch (error) {
    // In URL mode the password is part of the URL: the refusal is shown there.
    const refusal = error instanceof PortcullisError ? (error.details?.fieldErrors as Record<string, string> | undefined)?.password : undefined;
    if (refusal && input.mode === "url") throw new PortcullisError("invalid_input", (error as PortcullisError).message, { fieldErrors: { url: refusal } });
    throw error;
  }
}

/** What the audit trail records of the route: where it goes and what is pinned, never a key. */
function reachAuditView(fields: ConnectionFields) {
  return {
    sshHops: fields.ssh?.hops.map((h) => ({ host: h.host, port: h.port, username: h.username, hostKeySha256: h.hostKeySha256 ?? null })) ?? [],
    sslClientCert: Boolean(fields.tls?.clientCert),
    sslServerName: fields.tls?.serverName ?? null,
    replicas: fields.replicas ?? [],
  };
}

/** The connection test as the form shows it: the stage in words, host keys offered, replicas' state; never the role's facts. */
export interface ConnectionTestView {
  ok: boolean;
  stage?: string;
  message?: string;
  error?: string;
  code?: string;
  serverVersion?: string;
  latencyMs?: number;
  hostKeys?: { position: number; host: string; offered: string; pinned: string | null }[];
  replicas?: { name: string; ok: boolean; lagMs?: number | null; message?: string; stage?: string }[];
}

async function runTest(fields: ConnectionFields): Promise<ConnectionTestResult> {
  const result = await testConnectionFields(fields, { metadata: getPrisma() });
  if (!result.ok) return { ...result, stage: result.stage ?? "other", message: result.message ?? result.error };
  return result;
}

/**
 * A failed test on save: an error for every caller (the form's actions turn it back into the result
 * to show, with its stage and any host key to confirm).
 */
function testFailed(test: ConnectionTestView): PortcullisError {
  return new PortcullisError("invalid_input", `connection test failed: ${test.message ?? test.error}`, { test: view(test) });
}

/** The test result a save failed on, if that is why it failed. */
export function failedTestOf(error: unknown): ConnectionTestView | undefined {
  return error instanceof PortcullisError && error.details?.test ? (error.details.test as ConnectionTestView) : undefined;
}

function view(result: ConnectionTestResult | ConnectionTestView): ConnectionTestView {
  const { role: _role, ...rest } = result as ConnectionTestResult;
  return rest;
}

export async function listConnections(ctx: TeamContext) {
  return getPrisma().connection.findMany({
    where: { teamId: ctx.team.id },
    orderBy: { createdAt: "asc" },
    select: {
      id: true, name: true, host: true, port: true, database: true, username: true, sslMode: true, status: true,
      lastTestedAt: true, lastTestResult: true, createdAt: true,
      sshHops: { orderBy: { position: "asc" }, select: { host: true, port: true, hostKeySha256: true } },
      replicas: { orderBy: { position: "asc" }, select: { name: true } },
      // A member counts only the links they were granted: the others are not theirs to know about.
      _count: { select: { links: ctx.role === "member" ? { where: { access: { some: { userId: ctx.user.userId } } } } : true } },
    },
  });
}

async function storedConnection(teamId: string, connectionId: string) {
  const row = await getPrisma().connection.findFirst({ where: { id: connectionId, teamId } });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  return row;
}

/** What the audit trail shows of a connection: where it points, never its secret. */
function auditView(row: { name: string; host: string; port: number; database: string; username: string; sslMode: string }) {
  return { name: row.name, host: row.host, port: row.port, database: row.database, username: row.username, sslMode: row.sslMode };
}

export async function testConnection(ctx: TeamContext, input: { connectionId?: string; values: ConnectionValues }) {
  requireRole(ctx, "admin");
  const stored = input.connectionId ? await storedConnection(ctx.team.id, input.connectionId) : null;
  const fields = await toFields(input.values, stored, ctx.team.id);
  const result = await runTest(fields);
  // A key a stored hop offered is kept (as a retest keeps it) so the form can confirm it through confirmHostKey.
  if (stored) await recordOfferedForStoredHops(getPrisma(), ctx.team.id, stored.id, fields, result);
  return view(result);
}

export async function createConnection(ctx: TeamContext, input: { values: ConnectionValues }) {
  requireRole(ctx, "admin");
  const fields = await toFields(input.values);
  if (!fields.password) throw new PortcullisError("invalid_input", "enter the password (it is stored encrypted and never shown again)");
  const prisma = getPrisma();
  // Tested before the transaction (a network round trip must not hold it open), then handed over.
  const test = await runTest(fields);
  if (!test.ok) throw testFailed(test);
  const connection = await prisma.$transaction(async (tx) => {
    // The shared operation takes a client; the transaction client is one (no nested transaction inside).
    const row = await addConnection(tx as unknown as PrismaClient, { teamId: ctx.team.id, name: input.values.name, fields, tested: test });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "connection.create",
      target: { type: "connection", id: row.id, name: row.name }, after: { ...auditView(row), ...reachAuditView(fields) }, sourceIp: ctx.sourceIp,
    });
    return row;
  });
  // Introspection feeds the Schema page and AI descriptions; the dashboard works without it.
  await enqueueIntrospection({ connectionId: connection.id, reason: "created" }).catch((error) =>
    console.warn("[web] could not queue introspection:", (error as Error).message),
  );
  return { id: connection.id };
}

export async function updateConnection(ctx: TeamContext, input: { connectionId: string; values: ConnectionValues }) {
  requireRole(ctx, "admin");
  const stored = await storedConnection(ctx.team.id, input.connectionId);
  const fields = await toFields(input.values, stored, ctx.team.id);
  const test = await runTest(fields);
  if (!test.ok) throw testFailed(test);
  const prisma = getPrisma();
  await prisma.$transaction(async (tx) => {
    // The shared operation writes the row, the route and the replicas; on a transaction client it runs in this transaction.
    const { connection: row } = await updateStoredConnection(tx as unknown as PrismaClient, {
      teamId: ctx.team.id, connectionId: stored.id, name: input.values.name, fields, tested: test,
    });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "connection.update",
      target: { type: "connection", id: row.id, name: row.name },
      before: auditView(stored),
      after: { ...auditView(row), ...reachAuditView(fields), passwordChanged: fields.password !== getKeyring().open(stored.secretCiphertext, stored.id) },
      sourceIp: ctx.sourceIp,
    });
  });
  // Gateways hold pools to the old address/password: tell them to rebuild.
  await publishRevocation({ kind: "connection", connectionId: stored.id }).catch(() => {});
  return { id: stored.id };
}

export async function deleteConnection(ctx: TeamContext, input: { connectionId: string }) {
  requireRole(ctx, "admin");
  const row = await storedConnection(ctx.team.id, input.connectionId);
  await getPrisma().$transaction(async (tx) => {
    await tx.connection.delete({ where: { id: row.id } });
    await recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "connection.delete",
      target: { type: "connection", id: row.id, name: row.name }, before: auditView(row), sourceIp: ctx.sourceIp,
    });
  });
  await publishRevocation({ kind: "connection", connectionId: row.id }).catch(() => {});
}

export async function getConnection(ctx: TeamContext, connectionId: string) {
  const row = await getPrisma().connection.findFirst({
    where: { id: idOrNotFound(connectionId, "connection"), teamId: ctx.team.id },
    select: {
      id: true, name: true, host: true, port: true, database: true, username: true, sslMode: true, sslCaCert: true, status: true, lastTestedAt: true, lastTestResult: true,
      sslClientCert: true, sslClientKeyCiphertext: true, sslServerName: true, replicaMaxLagMs: true,
      sshHops: { orderBy: { position: "asc" }, select: { position: true, host: true, port: true, username: true, privateKeyCiphertext: true, passphraseCiphertext: true, hostKeySha256: true, hostKeySeenSha256: true, hostKeySeenAt: true } },
      replicas: { orderBy: { position: "asc" }, select: { name: true, host: true, port: true } },
    },
  });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  // Secrets leave this function only as "stored or not": the page is rendered for the browser.
  const { sslClientKeyCiphertext, sshHops, ...rest } = row;
  return {
    ...rest,
    sslClientKeyStored: Boolean(sslClientKeyCiphertext),
    sshHops: sshHops.map(({ privateKeyCiphertext, passphraseCiphertext, ...hop }) => ({ ...hop, keyStored: Boolean(privateKeyCiphertext), passphraseStored: Boolean(passphraseCiphertext) })),
  };
}

/**
 * Confirms the host key a hop of a stored connection offered to its last test (the CLI's `host-key
 * confirm`): confirmHostKey pins it only if it is exactly what was seen, then tests with it.
 */
export async function confirmStoredHostKey(ctx: TeamContext, input: { connectionId: string; position: number; fingerprint: string }) {
  requireRole(ctx, "admin");
  const stored = await storedConnection(ctx.team.id, input.connectionId);
  const prisma = getPrisma();
  const { pinned, test } = await confirmHostKey(prisma, ctx.team.id, stored.id, input.position, input.fingerprint);
  if (pinned) {
    await prisma.$transaction((tx) =>
      recordConfigChange(tx, {
        teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "connection.host_key_confirm",
        target: { type: "connection", id: stored.id, name: stored.name }, after: { hop: input.position + 1, hostKeySha256: input.fingerprint }, sourceIp: ctx.sourceIp,
      }),
    );
  }
  return { pinned, test: view(test) };
}
