import { randomUUID } from "node:crypto";
import pg from "pg";
import type { PrismaClient, SslMode } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { reencryptWebhookSecrets } from "./notification-settings.js";
import { reencryptMaskSecrets } from "./mask-secrets.js";
import { z } from "zod";
import { getDbEnv } from "../env.js";
import {
  checkTargetAddress,
  pinnedClientConfig,
  targetPolicyFromEnv,
  tlsOptions,
  targetClientConfig,
  type Resolver,
  type TargetConnectionRow,
  type TargetPolicy,
} from "../target.js";

export interface ConnectionFields {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  sslMode: SslMode;
  sslCaCert?: string | null;
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

/** What the target role may do beyond its own database. */
export interface RolePrivileges {
  role: string;
  superuser: boolean;
  createRole: boolean;
  bypassRls: boolean;
  replication: boolean;
  /** Memberships (direct or inherited) in the roles that reach the server's programs and files. */
  serverRoles: string[];
  checkedAt: string;
}

export interface ConnectionTestOptions {
  /** The operator's target settings; defaults to the environment's (targetPolicyFromEnv). */
  policy?: TargetPolicy;
  /** The metadata database (its client, or its URL): a target may not be the server it runs on. Defaults to DATABASE_URL. */
  metadata?: PrismaClient | string;
  /** Name resolution (tests substitute an attacker's DNS). */
  resolve?: Resolver;
}

export interface ConnectionTestResult {
  ok: boolean;
  serverVersion?: string;
  latencyMs?: number;
  error?: string;
  code?: string;
  role?: RolePrivileges;
}

const SERVER_ROLES = ["pg_execute_server_program", "pg_read_server_files", "pg_write_server_files"] as const;

const ROLE_FACTS = `SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolbypassrls, r.rolreplication,
  ARRAY(SELECT s FROM unnest($1::text[]) s WHERE pg_has_role(r.oid, s, 'MEMBER')) AS server_roles
FROM pg_roles r WHERE r.rolname = current_user`;

/**
 * Why a role is refused, in words, with the least-privilege role to create instead. `undefined` when
 * the role reaches nothing beyond its database. CREATEROLE counts: up to PostgreSQL 15 such a role
 * can grant itself pg_execute_server_program. BYPASSRLS and REPLICATION do not: they reach no
 * program or file, and scopes do not rely on row-level security.
 */
export function explainPowerfulRole(facts: Pick<RolePrivileges, "role" | "superuser" | "createRole" | "serverRoles">, database?: string): string | undefined {
  const why: string[] = [];
  // A superuser is a member of every role: the one reason says it all.
  if (facts.superuser) why.push("is a superuser (it can run programs on the database server with COPY ... TO PROGRAM, read its files and every database)");
  if (facts.createRole && !facts.superuser) why.push("has CREATEROLE (it can grant itself roles that run programs on the database server)");
  if (!facts.superuser) for (const r of facts.serverRoles)
    why.push(r === "pg_execute_server_program" ? "is a member of pg_execute_server_program (it can run programs on the database server)" : `is a member of ${r} (it can ${r === "pg_read_server_files" ? "read" : "write"} files on the database server)`);
  if (why.length === 0) return undefined;
  const role = "portcullis_reader";
  const db = database ? pg.escapeIdentifier(database) : "your_database";
  return (
    `the role "${facts.role}" ${why.join(", and ")}. ` +
    `Create a least-privilege role for Portcullis instead: CREATE ROLE ${role} LOGIN PASSWORD '...' NOSUPERUSER NOCREATEROLE NOCREATEDB; ` +
    `GRANT CONNECT ON DATABASE ${db} TO ${role}; GRANT USAGE ON SCHEMA public TO ${role}; ` +
    `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}; (add INSERT, UPDATE, DELETE on the tables links may write)`
  );
}

interface ServerIdentity {
  systemIdentifier: string | null;
  startedAt: string;
  database: string;
}

// pg_control_system() (the cluster's system identifier, shared by its standbys) is readable by every
// role on a stock server, but an operator may revoke it: read only when allowed, so no error aborts
// the caller's transaction (the CLI saves inside one). Without it, the postmaster's start time decides.
const IDENTITY = `SELECT pg_postmaster_start_time()::text AS started, current_database() AS database,
  has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') AS can_identify`;
const SYSTEM_IDENTIFIER = "SELECT system_identifier::text AS id FROM pg_control_system()";

async function identityOver(query: (sql: string) => Promise<Record<string, unknown>[]>): Promise<ServerIdentity> {
  const [row] = await query(IDENTITY);
  const systemIdentifier = row?.can_identify === true ? String((await query(SYSTEM_IDENTIFIER))[0]?.id ?? "") || null : null;
  return { systemIdentifier, startedAt: String(row?.started), database: String(row?.database) };
}

/**
 * The metadata PostgreSQL server's identity, asked afresh each time: its start time changes when it
 * restarts, and connection tests are rare enough that a cached answer would only go stale.
 */
async function stackIdentity(metadata: PrismaClient | string | undefined): Promise<ServerIdentity> {
  if (metadata === undefined) metadata = getDbEnv().DATABASE_URL;
  if (typeof metadata !== "string") {
    const prisma = metadata;
    return identityOver((sql) => prisma.$queryRawUnsafe<Record<string, unknown>[]>(sql));
  }
  const client = new pg.Client({ connectionString: metadata, connectionTimeoutMillis: 5000, application_name: "portcullis-identity" });
  client.on("error", () => {});
  await client.connect();
  try {
    return await identityOver(async (sql) => (await client.query(sql)).rows);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Connects (to the address it checked), asks the server version, measures one round trip, and
 * refuses what no team may use: the stack's own PostgreSQL (by what the server is, not its name) or
 * Redis, addresses outside the operator's TARGET_NETWORKS, and roles that reach the server's programs
 * or files (unless the operator allows them). The dashboard and the CLI both save through here.
 */
export async function testConnectionFields(fields: ConnectionFields, options: ConnectionTestOptions = {}): Promise<ConnectionTestResult> {
  const policy = options.policy ?? targetPolicyFromEnv();
  const checked = await checkTargetAddress(fields.host, fields.port, policy, options.resolve);
  if (!checked.ok) return { ok: false, error: checked.error, code: checked.code };
  const config: pg.ClientConfig = {
    host: fields.host,
    port: fields.port,
    database: fields.database,
    user: fields.username,
    password: fields.password,
    ssl: tlsOptions({ host: fields.host, sslMode: fields.sslMode, sslCaCert: fields.sslCaCert ?? null }),
    connectionTimeoutMillis: 5000,
    application_name: "portcullis-test",
  };
  let client: pg.Client | undefined;
  try {
    // Every address was checked; like libpq, try them in order while nothing listens there.
    for (const [i, address] of checked.addresses.entries()) {
      const attempt = new pg.Client(pinnedClientConfig(config, address));
      attempt.on("error", () => {});
      try {
        await attempt.connect();
        client = attempt;
        break;
      } catch (error) {
        await attempt.end().catch(() => {});
        const code = (error as { code?: string }).code;
        if (i === checked.addresses.length - 1 || !UNREACHABLE.has(code ?? "")) throw error;
      }
    }
    if (!client) throw new Error("no address to connect to");
    const session = client;
    const started = performance.now();
    const { rows } = await client.query<{ server_version: string }>("SHOW server_version");
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;

    const [target, stack] = await Promise.all([identityOver(async (sql) => (await session.query(sql)).rows), stackIdentity(options.metadata)]);
    const sameServer =
      target.systemIdentifier && stack.systemIdentifier ? target.systemIdentifier === stack.systemIdentifier : target.startedAt === stack.startedAt;
    if (sameServer) {
      const allowed = target.database !== stack.database && (policy.stackDatabases.has(target.database) || policy.stackDatabases.has("*"));
      if (!allowed)
        return {
          ok: false,
          code: "target_refused",
          error: `${fields.host}:${fields.port} is Portcullis's own PostgreSQL server (the one holding its metadata), which can never be a target${target.database === stack.database ? "" : `; the operator can allow its database "${target.database}" with TARGET_STACK_DATABASES`}`,
        };
    }

    const facts = (await client.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolbypassrls: boolean; rolreplication: boolean; server_roles: string[] }>(ROLE_FACTS, [SERVER_ROLES])).rows[0];
    const role: RolePrivileges = {
      role: facts?.rolname ?? fields.username,
      superuser: facts?.rolsuper ?? false,
      createRole: facts?.rolcreaterole ?? false,
      bypassRls: facts?.rolbypassrls ?? false,
      replication: facts?.rolreplication ?? false,
      serverRoles: facts?.server_roles ?? [],
      checkedAt: new Date().toISOString(),
    };
    const powerful = explainPowerfulRole(role, fields.database);
    if (powerful && !policy.allowPowerfulRoles) return { ok: false, code: "powerful_role", error: powerful, role };
    return { ok: true, serverVersion: rows[0]?.server_version, latencyMs, role };
  } catch (error) {
    return { ok: false, error: explainConnectionError(error, fields), code: (error as { code?: string }).code };
  } finally {
    await client?.end().catch(() => {});
  }
}

const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** The test result as stored on the row (the role's facts have their own column). */
function storedResult(result: ConnectionTestResult): { ok: boolean; serverVersion?: string; latencyMs?: number; error?: string; code?: string } {
  const { role: _role, ...rest } = result;
  return rest;
}

/** The subset of a scope document this check reads (packages/policy's Scope fits it). */
export interface ScopeAccessLevels {
  access?: string;
  tables?: Record<string, { access?: string } | undefined>;
}

/**
 * Link creation and scope changes call this: a connection whose role reaches the server's programs
 * or files (allowed only by TARGET_ALLOW_POWERFUL_ROLES) never gets an admin link, and is refused
 * outright when the operator no longer allows such roles. Facts come from the last connection test.
 */
export function assertScopeAllowedForConnection(
  connection: { rolePrivileges: unknown; database?: string },
  scope: ScopeAccessLevels,
  policy: Pick<TargetPolicy, "allowPowerfulRoles"> = targetPolicyFromEnv(),
): void {
  const facts = rolePrivilegesSchema.safeParse(connection.rolePrivileges);
  if (!facts.success) return;
  const powerful = explainPowerfulRole(facts.data, connection.database);
  if (!powerful) return;
  if (!policy.allowPowerfulRoles) throw new PortcullisError("forbidden", `links on this connection are refused: ${powerful}`);
  const admin = scope.access === "admin" || Object.values(scope.tables ?? {}).some((t) => t?.access === "admin");
  if (admin)
    throw new PortcullisError(
      "forbidden",
      `admin access is refused on this connection: ${powerful} (the operator allows such roles for read and write links only)`,
    );
}

const rolePrivilegesSchema = z.object({
  role: z.string(),
  superuser: z.boolean(),
  createRole: z.boolean(),
  bypassRls: z.boolean().default(false),
  replication: z.boolean().default(false),
  serverRoles: z.array(z.string()),
  checkedAt: z.string().optional(),
});

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
  // `test: false` is for operators' scripts and fixtures that vouch for the target; a caller that
  // tested already (the dashboard, inside its transaction) hands its result over as `tested`.
  const test = input.tested ?? (input.test === false ? undefined : await testConnectionFields(input.fields, { metadata: prisma, ...testOptions }));
  if (test && !test.ok) throw new PortcullisError("invalid_input", `connection test failed: ${test.error}`, { test: storedResult(test) });

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
        lastTestResult: test ? storedResult(test) : undefined,
        rolePrivileges: test?.role ? { ...test.role } : undefined,
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `this team already has a connection named "${name}"`);
    throw error;
  }
}

/** Re-tests a stored connection and records the result. */
export async function retestConnection(
  prisma: PrismaClient,
  connectionId: string,
  keyring: SecretKeyring = getKeyring(),
  testOptions: ConnectionTestOptions = {},
) {
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
  }, { metadata: prisma, ...testOptions });
  await prisma.connection.update({
    where: { id: connectionId },
    data: {
      status: result.ok ? "ok" : "error",
      lastTestedAt: new Date(),
      lastTestResult: storedResult(result),
      // A role made superuser since the last test is recorded as such, so its links stop passing.
      ...(result.role ? { rolePrivileges: { ...result.role } } : {}),
    },
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
  // The teams' hash-mask secrets are sealed with the same keys: an old key cannot go while one needs it.
  const masks = await reencryptMaskSecrets({ query: async (sql, values) => ({ rows: await prisma.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...values) }) }, keyring);
  // And the webhook signing secrets of the teams' approval notifications (issue 15).
  const webhooks = await reencryptWebhookSecrets(prisma, keyring);
  const remaining = (await prisma.connection.count({ where: { secretKeyId: { not: keyring.primary.id } } })) + masks.remaining + webhooks.remaining;
  return { reencrypted: stale.length + masks.reencrypted + webhooks.reencrypted, remaining, primaryKeyId: keyring.primary.id };
}
