import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { generateSecretKey } from "../src/secrets/index.js";
import { DEMO_LINKS, DEMO_LOGIN, seedDemo } from "../src/seed/index.js";
import { hashPassword, verifyPassword } from "../src/passwords.js";
import { targetClientConfig } from "../src/target.js";
import { createMetadataDatabase, testPgUrl, type TestDatabase } from "../src/testing/index.js";

/**
 * The demo's target role (issue 12): its password was the constant "chinook-demo", so anyone who can
 * reach the server signed in as it and read the columns the PII-safe link hides. Judged by signing in.
 */
let meta: TestDatabase;
let prisma: PrismaClient;
const role = `chinook_${randomBytes(4).toString("hex")}`;
const database = `chinook_${randomBytes(4).toString("hex")}`;
let keysFile: string;
const previousKeys = process.env.PORTCULLIS_SECRET_KEYS;

beforeAll(async () => {
  process.env.PORTCULLIS_SECRET_KEYS ??= generateSecretKey("k1");
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
  // What up.sh allows for the demo, nothing more: the target's one address and one database on the
  // server that also holds the metadata database.
  const server = new URL(testPgUrl());
  process.env.DATABASE_URL = meta.url;
  process.env.TARGET_ALLOW_ADDRESSES = `${server.hostname}:${server.port}`;
  process.env.TARGET_STACK_DATABASES = database;
  keysFile = path.join(await mkdtemp(path.join(tmpdir(), "seed-")), "demo-keys.json");
});

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
  const admin = new pg.Client({ connectionString: testPgUrl("postgres") });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
  await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
  await admin.end();
  if (previousKeys === undefined) delete process.env.PORTCULLIS_SECRET_KEYS;
});

async function signInAs(password: string): Promise<string> {
  const url = new URL(testPgUrl(database));
  url.username = role;
  url.password = password;
  const client = new pg.Client({ connectionString: url.toString() });
  try {
    await client.connect();
    await client.query("SELECT count(*) FROM customer");
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

async function storedPassword(): Promise<string> {
  const row = await prisma.connection.findFirstOrThrow({ where: { name: "Chinook" } });
  return String(targetClientConfig(row).password);
}

describe("demo seed", () => {
  it("gives the demo role a random password, new on every run, and keeps the connection working", async () => {
    const options = { targetAdminUrl: testPgUrl("postgres"), keysFile, targetRole: role, targetDatabase: database };
    const first = await seedDemo(prisma, options);
    const firstPassword = await storedPassword();
    expect(firstPassword).not.toBe("chinook-demo");
    expect(firstPassword.length).toBeGreaterThanOrEqual(24);
    expect(await signInAs("chinook-demo")).toBe("28P01");
    expect(await signInAs(firstPassword)).toBe("ok");

    const second = await seedDemo(prisma, options);
    expect(second.links.map((l) => l.id)).toEqual(first.links.map((l) => l.id));
    const secondPassword = await storedPassword();
    expect(secondPassword).not.toBe(firstPassword);
    expect(await signInAs(firstPassword)).toBe("28P01");
    expect(await signInAs(secondPassword)).toBe("ok");
    const attributes = await prisma.$queryRawUnsafe<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }[]>(
      `SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = '${role}'`,
    );
    expect(attributes).toEqual([{ rolsuper: false, rolcreaterole: false, rolcreatedb: false }]);
  });

  it("the PII-safe link hides invoices' billing address and postal code, and says so", async () => {
    const pii = await prisma.link.findFirstOrThrow({ where: { name: "chinook-pii-safe" } });
    expect((pii.scope as { tables: Record<string, { hiddenColumns?: string[] }> }).tables.invoice?.hiddenColumns).toEqual([
      "billing_address",
      "billing_postal_code",
    ]);
    const spec = DEMO_LINKS.find((l) => l.name === "chinook-pii-safe")!;
    expect(spec.description).toMatch(/billing address and postal code/);
  });

  it("the PII-safe link hides every copy of the personal data it hides: no visible column of Chinook holds one of its values", async () => {
    const spec = DEMO_LINKS.find((l) => l.name === "chinook-pii-safe")!;
    const tables = spec.scope.tables as Record<string, { hiddenColumns?: readonly string[] }>;
    const hidden = (table: string, column: string) => tables[table]?.hiddenColumns?.includes(column) ?? false;
    const admin = new pg.Client({ connectionString: testPgUrl(database) });
    await admin.connect();
    try {
      const { rows: columns } = await admin.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type IN ('character varying', 'text') ORDER BY 1, 2`,
      );
      const secret = columns.filter((c) => hidden(c.table_name, c.column_name));
      const visible = columns.filter((c) => !hidden(c.table_name, c.column_name));
      expect(secret.map((c) => `${c.table_name}.${c.column_name}`)).toEqual(expect.arrayContaining(["customer.email", "invoice.billing_address", "employee.last_name"]));
      // Every distinct value of a hidden column, looked for in every visible text column. A first or
      // last name alone is a common word (an album is called "Frank"): names are looked for whole.
      const parts = secret
        .filter((c) => !/^(first|last)_name$/.test(c.column_name))
        .map((c) => `SELECT ${pg.escapeIdentifier(c.column_name)}::text AS v FROM ${pg.escapeIdentifier(c.table_name)}`);
      for (const table of ["customer", "employee"]) {
        expect(hidden(table, "first_name") && hidden(table, "last_name")).toBe(true);
        parts.push(`SELECT first_name || ' ' || last_name FROM ${table}`, `SELECT last_name || ', ' || first_name FROM ${table}`);
      }
      const values = `SELECT DISTINCT v FROM (${parts.join(" UNION ALL ")}) s WHERE v IS NOT NULL`;
      const leaks: string[] = [];
      for (const c of visible) {
        const { rows } = await admin.query<{ v: string }>(
          `SELECT DISTINCT ${pg.escapeIdentifier(c.column_name)}::text AS v FROM ${pg.escapeIdentifier(c.table_name)} WHERE ${pg.escapeIdentifier(c.column_name)}::text IN (${values}) LIMIT 3`,
        );
        for (const r of rows) leaks.push(`${c.table_name}.${c.column_name} = ${r.v}`);
      }
      expect(leaks).toEqual([]);
    } finally {
      await admin.end();
    }
    expect(spec.description).toMatch(/names, email, phone, fax, street address and postal code/);
    expect(spec.description).toMatch(/invoices' billing address and postal code/);
  });

  it("upgrades the PII-safe scopes earlier versions seeded, but keeps one a person edited", async () => {
    const options = { targetAdminUrl: testPgUrl("postgres"), keysFile, targetRole: role, targetDatabase: database };
    const pii = await prisma.link.findFirstOrThrow({ where: { name: "chinook-pii-safe" } });
    const current = DEMO_LINKS.find((l) => l.name === "chinook-pii-safe")!.scope;
    const contact = ["email", "phone", "fax", "address", "postal_code"];
    const first = {
      access: "read",
      schemas: ["public"],
      tables: {
        customer: { hiddenColumns: contact },
        employee: { hiddenColumns: [...contact, "birth_date"] },
        playlist: { access: "write" },
        playlist_track: { access: "write" },
      },
      limits: { maxRows: 500, statementTimeoutMs: 10000 },
    };
    const second = { ...first, tables: { ...first.tables, invoice: { hiddenColumns: ["billing_address", "billing_postal_code"] } } };
    for (const old of [first, second]) {
      await prisma.link.update({ where: { id: pii.id }, data: { scope: old } });
      await seedDemo(prisma, options);
      const upgraded = await prisma.link.findUniqueOrThrow({ where: { id: pii.id } });
      expect(JSON.parse(JSON.stringify(upgraded.scope))).toEqual(JSON.parse(JSON.stringify(current)));
    }

    const edited = { ...second, tables: { ...second.tables, album: { access: "none" } } };
    await prisma.link.update({ where: { id: pii.id }, data: { scope: edited } });
    await seedDemo(prisma, options);
    const kept = await prisma.link.findUniqueOrThrow({ where: { id: pii.id } });
    expect(kept.scope).toEqual(edited);
  });

  it("moves a demo owner still on the README's well-known password to DEMO_PASSWORD, and leaves a changed one alone", async () => {
    const options = { targetAdminUrl: testPgUrl("postgres"), keysFile, targetRole: role, targetDatabase: database };
    const owner = () => prisma.user.findUniqueOrThrow({ where: { email: DEMO_LOGIN.email } });
    await prisma.user.update({ where: { email: DEMO_LOGIN.email }, data: { passwordHash: await hashPassword(DEMO_LOGIN.password) } });
    await seedDemo(prisma, { ...options, demoPassword: "a-random-demo-password" });
    expect(await verifyPassword((await owner()).passwordHash, DEMO_LOGIN.password)).toBe(false);
    expect(await verifyPassword((await owner()).passwordHash, "a-random-demo-password")).toBe(true);

    await prisma.user.update({ where: { email: DEMO_LOGIN.email }, data: { passwordHash: await hashPassword("the owner changed it") } });
    await seedDemo(prisma, { ...options, demoPassword: "another-random-password" });
    expect(await verifyPassword((await owner()).passwordHash, "the owner changed it")).toBe(true);
  });
});
