import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { addConnection, addLinkDatabase, createLink, createTeam, createUser } from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { createMetadataDatabase, withClient, type TestDatabase } from "../src/testing/index.js";

/**
 * Round 2 L2, at the data layer: the migration binds curated tools saved before it to the connection
 * their database name points at then (null name: the link's own connection); a name the link no longer
 * has stays NULL, which the gateway never runs. (Saving binds to the checked connection:
 * apps/gateway/test/saved-tool-binding.int.test.ts, with real databases.)
 */
let meta: TestDatabase;
let prisma: PrismaClient;
const ids = { team: "", link: "", a: "", b: "" };
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const fields = (database: string) => ({ host: "127.0.0.1", port: 5432, database, username: "u", password: "p", sslMode: "disable" as const });
const scope = { access: "read", tables: {}, limits: { maxRows: 10, statementTimeoutMs: 1000 } };
const parseScope = (raw: unknown) => ({ ok: true as const, scope: raw });

beforeAll(async () => {
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
  const user = await createUser(prisma, { email: "owner@toolbind.test" });
  ids.team = (await createTeam(prisma, { name: "ToolBind", ownerId: user.id })).id;
  ids.a = (await addConnection(prisma, { teamId: ids.team, name: "a", test: false, fields: fields("a") }, keyring)).id;
  ids.b = (await addConnection(prisma, { teamId: ids.team, name: "b", test: false, fields: fields("b") }, keyring)).id;
  ids.link = (await createLink(prisma, { teamId: ids.team, connectionId: ids.a, name: "l", scope: scope as never, databaseName: "main" })).id;
  await addLinkDatabase(prisma, { teamId: ids.team, linkId: ids.link, name: "ledger", connectionId: ids.b, scope }, { parseScope });
}, 60_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

test("the migration's backfill binds old tools by their database name now; a name the link no longer has stays NULL", async () => {
  // Rows as they were before the column: written directly (saving runs the check against a real server).
  const row = (name: string, databaseName: string | null) =>
    prisma.linkTool.create({ data: { teamId: ids.team, linkId: ids.link, name, description: "d", sql: "SELECT 1", databaseName } });
  const [first, named, onLedger, orphan] = [await row("first", null), await row("named_first", "main"), await row("on_ledger", "ledger"), await row("orphan", "removed")];
  const sql = await readFile(path.resolve(import.meta.dirname, "../../../prisma/migrations/20261209140000_link_tools_connection/migration.sql"), "utf8");
  const backfill = sql.split("\n").filter((l) => !l.startsWith("--") && !/^(ALTER|CREATE)/.test(l)).join("\n");
  await withClient(meta.url, (c) => c.query(backfill));
  const rows = await prisma.linkTool.findMany({ where: { linkId: ids.link }, select: { id: true, connectionId: true } });
  expect(Object.fromEntries(rows.map((r) => [r.id, r.connectionId]))).toEqual({ [first.id]: ids.a, [named.id]: ids.a, [onLedger.id]: ids.b, [orphan.id]: null });
});
