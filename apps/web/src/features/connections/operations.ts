import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import { addConnection, testConnectionFields, type ConnectionFields } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl } from "@portcullis/db/target";
import { authorizeTeam, type Actor } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { enqueueIntrospection, publishRevocation } from "../../lib/redis";

const SSL_MODES = ["disable", "prefer", "require", "verify_ca", "verify_full"] as const;

export const connectionInputSchema = z
  .object({
    name: z.string().trim().min(1, "give the connection a name").max(60, "keep the name under 60 characters"),
    mode: z.enum(["url", "fields"]),
    url: z.string().trim().optional(),
    host: z.string().trim().optional(),
    port: z.coerce.number().int("the port is a whole number").min(1).max(65535, "ports go up to 65535").optional(),
    database: z.string().trim().optional(),
    username: z.string().trim().optional(),
    /** Empty on edit means "keep the stored password": it is write-only and never sent back. */
    password: z.string().optional(),
    sslMode: z.enum(SSL_MODES).default("prefer"),
    sslCaCert: z.string().trim().optional(),
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

/** Resolves the form to concrete fields; a blank password on edit falls back to the stored one. */
function toFields(input: z.output<typeof connectionInputSchema>, storedPassword?: string): ConnectionFields {
  let fields: Omit<ConnectionFields, "sslMode" | "sslCaCert"> & { sslMode?: ConnectionFields["sslMode"] };
  if (input.mode === "url") {
    const parsed = parseTargetUrl(input.url!);
    // An explicit sslmode in the URL wins over the select, as psql would do.
    fields = { ...parsed, sslMode: /sslmode=/i.test(input.url!) ? parsed.sslMode : undefined };
  } else {
    fields = { host: input.host!, port: input.port ?? 5432, database: input.database!, username: input.username!, password: input.password ?? "" };
  }
  const password = fields.password || storedPassword || "";
  return { ...fields, password, sslMode: fields.sslMode ?? input.sslMode, sslCaCert: input.sslCaCert || null };
}

export async function listConnections(actor: Actor, teamId: string) {
  await authorizeTeam(actor, teamId, "viewer");
  return getPrisma().connection.findMany({
    where: { teamId },
    orderBy: { createdAt: "asc" },
    select: {
      id: true, name: true, host: true, port: true, database: true, username: true, sslMode: true, status: true,
      lastTestedAt: true, lastTestResult: true, createdAt: true, _count: { select: { links: true } },
    },
  });
}

async function storedPassword(teamId: string, connectionId: string | undefined) {
  if (!connectionId) return undefined;
  const row = await getPrisma().connection.findFirst({ where: { id: connectionId, teamId } });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  return getKeyring().open(row.secretCiphertext, row.id);
}

export async function testConnection(actor: Actor, input: { teamId: string; connectionId?: string; values: ConnectionInput }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const parsed = connectionInputSchema.parse(input.values);
  const fields = toFields(parsed, await storedPassword(input.teamId, input.connectionId));
  return testConnectionFields(fields);
}

export async function createConnection(actor: Actor, input: { teamId: string; values: ConnectionInput }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const parsed = connectionInputSchema.parse(input.values);
  const fields = toFields(parsed);
  if (!fields.password) throw new PortcullisError("invalid_input", "enter the password (it is stored encrypted and never shown again)");
  const connection = await addConnection(getPrisma(), { teamId: input.teamId, name: parsed.name, fields });
  // Introspection feeds the Schema page and AI descriptions; the dashboard works without it.
  await enqueueIntrospection({ connectionId: connection.id, reason: "created" }).catch((error) =>
    console.warn("[web] could not queue introspection:", (error as Error).message),
  );
  return { id: connection.id };
}

export async function updateConnection(actor: Actor, input: { teamId: string; connectionId: string; values: ConnectionInput }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const parsed = connectionInputSchema.parse(input.values);
  const fields = toFields(parsed, await storedPassword(input.teamId, input.connectionId));
  const test = await testConnectionFields(fields);
  if (!test.ok) throw new PortcullisError("invalid_input", `connection test failed: ${test.error}`);
  const sealed = getKeyring().seal(fields.password, input.connectionId);
  const prisma = getPrisma();
  try {
    await prisma.connection.update({
      where: { id: input.connectionId },
      data: {
        name: parsed.name, host: fields.host, port: fields.port, database: fields.database, username: fields.username,
        secretCiphertext: sealed.ciphertext, secretKeyId: sealed.keyId, sslMode: fields.sslMode, sslCaCert: fields.sslCaCert ?? null,
        status: "ok", lastTestedAt: new Date(), lastTestResult: { ...test },
      },
    });
  } catch (error) {
    if ((error as { code?: string }).code === "P2002") throw new PortcullisError("conflict", `this team already has a connection named "${parsed.name}"`);
    throw error;
  }
  // Gateways hold pools to the old address/password: tell them to rebuild.
  await publishRevocation({ kind: "connection", connectionId: input.connectionId }).catch(() => {});
  return { id: input.connectionId };
}

export async function deleteConnection(actor: Actor, input: { teamId: string; connectionId: string }) {
  await authorizeTeam(actor, input.teamId, "admin");
  const prisma = getPrisma();
  const row = await prisma.connection.findFirst({ where: { id: input.connectionId, teamId: input.teamId } });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  await prisma.connection.delete({ where: { id: row.id } });
  await publishRevocation({ kind: "connection", connectionId: row.id }).catch(() => {});
}

export async function getConnection(actor: Actor, teamId: string, connectionId: string) {
  await authorizeTeam(actor, teamId, "viewer");
  const row = await getPrisma().connection.findFirst({
    where: { id: connectionId, teamId },
    select: { id: true, name: true, host: true, port: true, database: true, username: true, sslMode: true, sslCaCert: true, status: true, lastTestedAt: true, lastTestResult: true },
  });
  if (!row) throw new PortcullisError("not_found", "connection not found");
  return row;
}
