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

export const DEMO_LOGIN = { email: "demo@portcullis.dev", password: "portcullis-demo" } as const;
const DEMO_TEAM_SLUG = "demo";
const CHINOOK_ROLE = "chinook_app";
const CHINOOK_PASSWORD = "chinook-demo";

/** The demo's two links: a read-only one, and one that hides PII and may write playlists. */
export const DEMO_LINKS = [
  {
    name: "chinook-read-only",
    scope: { access: "read", schemas: ["public"], limits: { maxRows: 1000, statementTimeoutMs: 15000 } },
  },
  {
    name: "chinook-pii-safe",
    scope: {
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
  },
] as const;

export interface SeedOptions {
  /** URL of a role that may create roles and databases on the target server (the local cluster). */
  targetAdminUrl: string;
  /** File keeping the demo keys, so a second run can print the same config (keys are stored hashed). */
  keysFile: string;
  log?: (line: string) => void;
}

export interface SeededLink {
  id: string;
  name: string;
  apiKey: string;
}

/** Loads Chinook as its own database owned by a demo role, if it is not there yet. */
async function ensureChinook(adminUrl: string, log: (line: string) => void): Promise<{ host: string; port: number }> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const role = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [CHINOOK_ROLE]);
    if (!role.rowCount) {
      await admin.query(`CREATE ROLE ${CHINOOK_ROLE} LOGIN PASSWORD '${CHINOOK_PASSWORD}'`);
    }
    const db = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'chinook'");
    if (!db.rowCount) {
      log("loading the Chinook demo database");
      await admin.query(`CREATE DATABASE chinook OWNER ${CHINOOK_ROLE}`);
      const url = new URL(adminUrl);
      url.pathname = "/chinook";
      url.username = CHINOOK_ROLE;
      url.password = CHINOOK_PASSWORD;
      const owner = new pg.Client({ connectionString: url.toString() });
      await owner.connect();
      try {
        await owner.query(await readChinookScript());
      } finally {
        await owner.end();
      }
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  return { host: url.hostname, port: Number(url.port || 5432) };
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
export async function seedDemo(prisma: PrismaClient, options: SeedOptions): Promise<{ teamId: string; links: SeededLink[] }> {
  const log = options.log ?? (() => {});
  const target = await ensureChinook(options.targetAdminUrl, log);

  const user =
    (await prisma.user.findUnique({ where: { email: DEMO_LOGIN.email } })) ??
    (await createUser(prisma, { email: DEMO_LOGIN.email, password: DEMO_LOGIN.password, name: "Demo Owner" }));
  const team =
    (await prisma.team.findUnique({ where: { slug: DEMO_TEAM_SLUG } })) ??
    (await createTeam(prisma, { name: "Demo Team", slug: DEMO_TEAM_SLUG, ownerId: user.id }));
  await addMember(prisma, { teamId: team.id, userId: user.id, role: "owner" });

  const connection =
    (await prisma.connection.findFirst({ where: { teamId: team.id, name: "Chinook" } })) ??
    (await addConnection(prisma, {
      teamId: team.id,
      name: "Chinook",
      fields: {
        host: target.host,
        port: target.port,
        database: "chinook",
        username: CHINOOK_ROLE,
        password: CHINOOK_PASSWORD,
        sslMode: "disable",
      },
    }));

  const keys = await readKeys(options.keysFile);
  const links: SeededLink[] = [];
  for (const spec of DEMO_LINKS) {
    const link =
      (await prisma.link.findFirst({ where: { teamId: team.id, name: spec.name } })) ??
      (await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: spec.name, scope: spec.scope, createdById: user.id }));
    let apiKey = keys[link.id];
    const stillValid = apiKey
      ? await prisma.apiKey.findFirst({ where: { linkId: link.id, revokedAt: null, prefix: apiKey.slice(0, 12) } })
      : null;
    if (!apiKey || !stillValid) {
      apiKey = (await createApiKey(prisma, { teamId: team.id, linkId: link.id, userId: user.id, name: "demo key" })).key;
      keys[link.id] = apiKey;
    }
    links.push({ id: link.id, name: link.name, apiKey });
  }
  await mkdir(path.dirname(options.keysFile), { recursive: true });
  await writeFile(options.keysFile, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return { teamId: team.id, links };
}
