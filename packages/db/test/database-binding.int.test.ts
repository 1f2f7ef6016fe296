import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import {
  addConnection,
  addLinkDatabase,
  createLink,
  createTeam,
  createUser,
  createWriteRequest,
  requestAccessGrant,
} from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { createMetadataDatabase, withClient, type TestDatabase } from "../src/testing/index.js";

/**
 * Attack finding 2, at the data layer: a grant or write request is stored bound to the connection its
 * database name points at; a caller whose record says another connection stores nothing; and the
 * migration binds rows made before it to what their name points at then (a name the link no longer has
 * stays unbound: NULL, which the gateway never applies or runs).
 */
let meta: TestDatabase;
let prisma: PrismaClient;
const ids = { team: "", link: "", user: "", a: "", b: "" };
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const fields = (database: string) => ({ host: "127.0.0.1", port: 5432, database, username: "u", password: "p", sslMode: "disable" as const });
const scope = { access: "read", tables: {}, limits: { maxRows: 10, statementTimeoutMs: 1000 } };
const parseScope = (raw: unknown) => ({ ok: true as const, scope: raw });

beforeAll(async () => {
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
  ids.user = (await createUser(prisma, { email: "owner@bind.test" })).id;
  ids.team = (await createTeam(prisma, { name: "Bind", ownerId: ids.user })).id;
  ids.a = (await addConnection(prisma, { teamId: ids.team, name: "a", test: false, fields: fields("a") }, keyring)).id;
  ids.b = (await addConnection(prisma, { teamId: ids.team, name: "b", test: false, fields: fields("b") }, keyring)).id;
  ids.link = (await createLink(prisma, { teamId: ids.team, connectionId: ids.a, name: "l", scope: scope as never, databaseName: "main" })).id;
  await addLinkDatabase(prisma, { teamId: ids.team, linkId: ids.link, name: "ledger", connectionId: ids.b, scope }, { parseScope });
}, 60_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

const ask = (databaseName: string | null, connectionId?: string) =>
  requestAccessGrant(prisma, { teamId: ids.team, linkId: ids.link, userId: ids.user, tableKey: "public.t", access: "write", minutes: 5, reason: "r", via: "cli", databaseName, ...(connectionId ? { connectionId } : {}) });
const write = (databaseName: string | null, connectionId?: string) =>
  createWriteRequest(prisma, {
    teamId: ids.team, linkId: ids.link, kind: "approval", mode: "writes", tables: [], reason: "r", sql: "DELETE FROM t", catalogVersion: "c", scopeHash: "s",
    userId: ids.user, principalSubject: "key:k", preview: null, expiresAt: new Date(Date.now() + 60_000), databaseName, ...(connectionId ? { connectionId } : {}),
  });

test("made bound to what the name points at; a caller's record of another connection stores nothing", async () => {
  expect((await ask(null)).connectionId).toBe(ids.a);
  expect((await ask("main")).connectionId).toBe(ids.a);
  expect((await ask("ledger", ids.b)).connectionId).toBe(ids.b);
  expect((await write("ledger")).connectionId).toBe(ids.b);
  const before = await prisma.accessGrant.count();
  await expect(ask("ledger", ids.a)).rejects.toMatchObject({ code: "not_found" });
  await expect(ask("gone")).rejects.toMatchObject({ code: "not_found" });
  await expect(write("ledger", ids.a)).rejects.toMatchObject({ code: "conflict" });
  await expect(write("gone")).rejects.toMatchObject({ code: "conflict" });
  expect(await prisma.accessGrant.count()).toBe(before);
});

test("the migration's backfill binds old rows by their name now; a name the link no longer has stays NULL", async () => {
  const grant = await ask("ledger");
  const first = await ask(null);
  const orphan = await ask("main");
  await withClient(meta.url, async (c) => {
    await c.query("UPDATE access_grants SET connection_id = NULL");
    await c.query("UPDATE access_grants SET database_name = 'removed' WHERE id = $1", [orphan.id]);
  });
  const sql = await readFile(path.resolve(import.meta.dirname, "../../../prisma/migrations/20261209130000_bind_database_connection/migration.sql"), "utf8");
  const backfill = sql.split("\n").filter((l) => !l.startsWith("--") && !/^(ALTER|CREATE)/.test(l)).join("\n");
  await withClient(meta.url, (c) => c.query(backfill));
  const rows = await prisma.accessGrant.findMany({ where: { id: { in: [grant.id, first.id, orphan.id] } }, select: { id: true, connectionId: true } });
  expect(Object.fromEntries(rows.map((r) => [r.id, r.connectionId]))).toEqual({ [grant.id]: ids.b, [first.id]: ids.a, [orphan.id]: null });
});
