import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import type { PrismaClient } from "../client.js";
import { addMember, createTeam } from "../operations/teams.js";
import { createUser } from "../operations/users.js";
import { addConnection } from "../operations/connections.js";
import { createLink } from "../operations/links.js";
import { createApiKey } from "../operations/api-keys.js";
import { readChinookScript } from "../testing/index.js";
import { getKeyring } from "../secrets/index.js";
import { hashPassword, verifyPassword } from "../passwords.js";

/** The demo owner. The password is the fallback only: up.sh passes a random one (DEMO_PASSWORD in .env). */
export const DEMO_LOGIN = { email: "demo@portcullis.dev", password: "portcullis-demo" } as const;
const DEMO_TEAM_SLUG = "demo";
const CHINOOK_ROLE = "chinook_app";
const CHINOOK_DATABASE = "chinook";

/**
 * What the PII-safe link hides: every column that names, reaches or locates a person to the street —
 * customers' and employees' names, contact details, street address and postal code, customers'
 * company, employees' birth date — and every copy of them (the address an invoice is billed to is the
 * customer's address again). City, state and country stay: they are what sales-by-region questions need.
 */
const PII_SAFE_TABLES = {
  customer: { hiddenColumns: ["first_name", "last_name", "company", "email", "phone", "fax", "address", "postal_code"] },
  employee: { hiddenColumns: ["first_name", "last_name", "email", "phone", "fax", "address", "postal_code", "birth_date"] },
  invoice: { hiddenColumns: ["billing_address", "billing_postal_code"] },
  playlist: { access: "write" },
  playlist_track: { access: "write" },
} as const;

/** The demo's two links: a read-only one, and one that hides PII and may write playlists. */
export const DEMO_LINKS = [
  {
    name: "chinook-read-only",
    description: "reads every table of Chinook",
    scope: { access: "read", schemas: ["public"], limits: { maxRows: 1000, statementTimeoutMs: 15000 } },
  },
  {
    name: "chinook-pii-safe",
    description:
      "reads Chinook without personal data: customers' and employees' names, email, phone, fax, street address and postal code, " +
      "customers' company, employees' birth date and invoices' billing address and postal code are hidden " +
      "(city, state and country stay, for sales by region); may edit playlists",
    scope: { access: "read", schemas: ["public"], tables: PII_SAFE_TABLES, limits: { maxRows: 500, statementTimeoutMs: 10000 } },
  },
] as const;

/** The PII-safe scopes earlier versions seeded, oldest first: replaced on the next seed unless someone edited it. */
const PREVIOUS_PII_SAFE_SCOPES = [
  {
    access: "read",
    schemas: ["public"],
    tables: {
      customer: { hiddenColumns: ["email", "phone", "fax", "address", "postal_code"] },
      employee: { hiddenColumns: ["email", "phone", "fax", "address", "postal_code", "birth_date"] },
      playlist: { access: "write" },
      playlist_track: { access: "write" },
    },
    limits: { maxRows: 500, statementTimeoutMs: 10000 },
  },
  {
    access: "read",
    schemas: ["public"],
    tables: {
      customer: { hiddenColumns: ["email", "phone", "fax", "address", "postal_code"] },
      employee: { hiddenColumns: ["email", "phone", "fax", "address", "postal_code", "birth_date"] },
      invoice: { hiddenColumns: ["billing_address", "billing_postal_code"] },
      playlist: { access: "write" },
      playlist_track: { access: "write" },
    },
    limits: { maxRows: 500, statementTimeoutMs: 10000 },
  },
];

export interface SeedOptions {
  /** URL of a role that may create roles and databases on the target server (the local cluster). */
  targetAdminUrl: string;
  /** File keeping the demo keys, so a second run can print the same config (keys are stored hashed). */
  keysFile: string;
  log?: (line: string) => void;
  /**
   * Where the gateway reaches the target server, when the admin URL cannot say (up.sh seeds through
   * the cluster's Unix socket as its superuser; the gateway connects over TCP).
   */
  targetAddress?: { host: string; port: number };
  /**
   * The demo owner's password. Earlier versions always used DEMO_LOGIN.password, printed in the README:
   * a demo owner still holding it is moved to this one; one whose password was changed is left alone.
   */
  demoPassword?: string;
  /** The demo's target role and database (tests use their own names on the shared test cluster). */
  targetRole?: string;
  targetDatabase?: string;
}

export interface SeededLink {
  id: string;
  name: string;
  description: string;
  apiKey: string;
}

function sameJson(a: unknown, b: unknown): boolean {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)).map(([k, x]) => [k, canonical(x)])) : v;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/**
 * Loads Chinook as its own database owned by a demo role, if it is not there yet. The role's password
 * is new on every run (earlier versions used a constant: anyone could connect as the role and read the
 * columns the PII-safe link hides); the caller stores it in the demo connection.
 */
async function ensureChinook(
  adminUrl: string,
  names: { role: string; database: string },
  log: (line: string) => void,
): Promise<{ host: string; port: number; password: string }> {
  const password = randomBytes(24).toString("base64url");
  const roleId = pg.escapeIdentifier(names.role);
  const databaseId = pg.escapeIdentifier(names.database);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const role = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [names.role]);
    // A plain role: no superuser, no role or database creation, nothing inherited.
    const attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS";
    await admin.query(`${role.rowCount ? "ALTER" : "CREATE"} ROLE ${roleId} ${attributes} PASSWORD ${pg.escapeLiteral(password)}`);
    const db = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [names.database]);
    if (!db.rowCount) {
      log("loading the Chinook demo database");
      await admin.query(`CREATE DATABASE ${databaseId} OWNER ${roleId}`);
      const url = new URL(adminUrl);
      url.pathname = `/${names.database}`;
      url.username = names.role;
      url.password = password;
      // A socket URL's host travels as a parameter; the owner signs in over the same way.
      const owner = new pg.Client({ connectionString: url.toString() });
      await owner.connect();
      try {
        await owner.query(await readChinookScript());
        // Row estimates and column statistics for the describer, now rather than when autovacuum gets to it.
        await owner.query("ANALYZE");
      } finally {
        await owner.end();
      }
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  return { host: url.hostname, port: Number(url.port || 5432), password };
}

async function readKeys(file: string): Promise<Record<string, string>> {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(await readFile(file, "utf8")) as Record<string, string>;
  } catch {
    return {};
  }
}

/** Idempotent: a second run finds everything in place and returns the same links and keys. */
export async function seedDemo(prisma: PrismaClient, options: SeedOptions): Promise<{ teamId: string; connectionId: string; links: SeededLink[] }> {
  const log = options.log ?? (() => {});
  const names = { role: options.targetRole ?? CHINOOK_ROLE, database: options.targetDatabase ?? CHINOOK_DATABASE };
  const chinook = await ensureChinook(options.targetAdminUrl, names, log);
  const target = options.targetAddress ?? { host: chinook.host, port: chinook.port };
  if (!target.host) throw new Error("seedDemo: the admin URL names no host; pass targetAddress");

  const demoPassword = options.demoPassword ?? DEMO_LOGIN.password;
  let user =
    (await prisma.user.findUnique({ where: { email: DEMO_LOGIN.email } })) ??
    (await createUser(prisma, { email: DEMO_LOGIN.email, password: demoPassword, name: "Demo Owner" }));
  if (demoPassword !== DEMO_LOGIN.password && (await verifyPassword(user.passwordHash, DEMO_LOGIN.password))) {
    user = await prisma.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(demoPassword) } });
    log("the demo owner's well-known password was replaced by DEMO_PASSWORD from .env");
  }
  const team =
    (await prisma.team.findUnique({ where: { slug: DEMO_TEAM_SLUG } })) ??
    (await createTeam(prisma, { name: "Demo Team", slug: DEMO_TEAM_SLUG, ownerId: user.id }));
  await addMember(prisma, { teamId: team.id, userId: user.id, role: "owner" });

  const existing = await prisma.connection.findFirst({ where: { teamId: team.id, name: "Chinook" } });
  if (existing) {
    const sealed = getKeyring().seal(chinook.password, existing.id);
    await prisma.connection.update({
      where: { id: existing.id },
      data: { secretCiphertext: sealed.ciphertext, secretKeyId: sealed.keyId, host: target.host, port: target.port },
    });
  }
  const connection =
    existing ??
    (await addConnection(prisma, {
      teamId: team.id,
      name: "Chinook",
      fields: {
        host: target.host,
        port: target.port,
        database: names.database,
        username: names.role,
        password: chinook.password,
        sslMode: "disable",
      },
    }));

  const keys = await readKeys(options.keysFile);
  const links: SeededLink[] = [];
  for (const spec of DEMO_LINKS) {
    let link =
      (await prisma.link.findFirst({ where: { teamId: team.id, name: spec.name } })) ??
      (await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: spec.name, scope: spec.scope, createdById: user.id }));
    if (spec.name === "chinook-pii-safe" && PREVIOUS_PII_SAFE_SCOPES.some((old) => sameJson(link.scope, old))) {
      link = await prisma.link.update({ where: { id: link.id }, data: { scope: spec.scope } });
      log("the PII-safe demo link now hides every copy of the personal data it names (names, company, billing address and postal code too)");
    }
    let apiKey = keys[link.id];
    const stillValid = apiKey
      ? await prisma.apiKey.findFirst({ where: { linkId: link.id, revokedAt: null, prefix: apiKey.slice(0, 12) } })
      : null;
    if (!apiKey || !stillValid) {
      apiKey = (await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name: "demo key" })).key;
      keys[link.id] = apiKey;
    }
    links.push({ id: link.id, name: link.name, description: spec.description, apiKey });
  }
  await mkdir(path.dirname(options.keysFile), { recursive: true });
  await writeFile(options.keysFile, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return { teamId: team.id, connectionId: connection.id, links };
}

export { OFFLINE_DESCRIBER_VERSION, queueDemoSchemaJobs, undescribedTables, type DemoQueueOutcome } from "./queue-demo.js";
