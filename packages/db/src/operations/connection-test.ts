import { randomUUID } from "node:crypto";
import { lookup } from "node:dns/promises";
import pg from "pg";
import type { PrismaClient } from "../client.js";
import { getDbEnv } from "../env.js";
import type { SecretKeyring } from "../secrets/index.js";
import { SshHostKeyError } from "../ssh/errors.js";
import { openSshSecret } from "../ssh/secrets.js";
import { describeTargetFailure, type TargetFailureStage } from "../target-failure.js";
import { openTargetRoute, type TargetRoute } from "../target-route.js";
import { checkTargetAddress, forServer, targetPolicyFromEnv, type Resolver, type TargetConnectionRow, type TargetPolicy } from "../target.js";
import { ephemeralKeyring, rowFromFields, type ConnectionFields } from "./connection-fields.js";
import { sshHopKeysProblem, sshKeyShapeProblem } from "./connection-key-check.js";
import { explainPowerfulRole, type RolePrivileges } from "./connection-roles.js";

export interface ConnectionTestOptions {
  /** The operator's target settings; defaults to the environment's (targetPolicyFromEnv). */
  policy?: TargetPolicy;
  /** The metadata database (its client, or its URL): a target may not be the server it runs on. Defaults to DATABASE_URL. */
  metadata?: PrismaClient | string;
  /** Name resolution (tests substitute an attacker's DNS). */
  resolve?: Resolver;
}

/** A hop's host key as the test met it: `offered` is what the server showed, `pinned` the confirmed one. */
export interface HostKeyReport {
  position: number;
  host: string;
  offered: string;
  pinned: string | null;
}

export interface ReplicaReport {
  name: string;
  host: string;
  port: number;
  ok: boolean;
  inRecovery?: boolean;
  lagMs?: number;
  stage?: TargetFailureStage;
  message?: string;
}

export interface ConnectionTestResult {
  ok: boolean;
  /** Where it failed (absent when ok). */
  stage?: TargetFailureStage;
  /** The failure in words (absent when ok); `error` is the same sentence, kept for older callers. */
  message?: string;
  error?: string;
  code?: string;
  route?: "direct" | "ssh";
  serverVersion?: string;
  latencyMs?: number;
  role?: RolePrivileges;
  hostKeys?: HostKeyReport[];
  replicas?: ReplicaReport[];
}

const SERVER_ROLES = ["pg_execute_server_program", "pg_read_server_files", "pg_write_server_files"] as const;
const ROLE_FACTS = `SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolbypassrls, r.rolreplication,
  ARRAY(SELECT s FROM unnest($1::text[]) s WHERE pg_has_role(r.oid, s, 'MEMBER')) AS server_roles
FROM pg_roles r WHERE r.rolname = current_user`;

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

type Query = (sql: string, values?: unknown[]) => Promise<Record<string, unknown>[]>;

async function identityOver(query: Query): Promise<ServerIdentity> {
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
 * Ends a session without waiting forever: after a failed TLS handshake pg's end() waits for an 'end'
 * event the destroyed socket never emits.
 */
async function endQuietly(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
  clearTimeout(timer);
}

const systemResolver: Resolver = (name) => lookup(name, { all: true, verbatim: true });
const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** A refusal decided here (not a driver error): the stack's own server, a powerful role, a replica that is not one. */
class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly role?: RolePrivileges,
  ) {
    super(message);
  }
}

/**
 * Opens one session to `row`'s server through its route. Direct: every address the name resolves to was
 * checked; like libpq, the next is tried while nothing listens at one. The caller ends the client and
 * closes the route.
 */
async function connect(row: TargetConnectionRow, policy: TargetPolicy, keyring: SecretKeyring, resolve: Resolver | undefined): Promise<{ client: pg.Client; route: TargetRoute }> {
  const direct = !row.sshHops || row.sshHops.length === 0;
  let addresses: (string | undefined)[] = [undefined];
  if (direct) {
    const checked = await checkTargetAddress(row.host, row.port, policy, resolve);
    if (!checked.ok) throw Object.assign(new Error(checked.error), { code: checked.code });
    addresses = checked.addresses;
  }
  for (const [i, address] of addresses.entries()) {
    // The address checked above is the only answer the route's own check gets: no second resolution.
    const pinned: Resolver | undefined = address
      ? async (name) => (name === row.host ? [{ address, family: address.includes(":") ? 6 : 4 }] : (resolve ?? systemResolver)(name))
      : resolve;
    const route = await openTargetRoute(row, { policy, keyring, resolve: pinned });
    const client = new pg.Client({ ...route.config, application_name: "portcullis-test", connectionTimeoutMillis: route.config.connectionTimeoutMillis ?? 5000 });
    client.on("error", () => {});
    try {
      await client.connect();
      return { client, route };
    } catch (error) {
      await endQuietly(client);
      await route.close().catch(() => {});
      const code = (error as { code?: string }).code;
      if (i === addresses.length - 1 || !UNREACHABLE.has(code ?? "")) throw error;
    }
  }
  throw new Error("no address to connect to");
}

function sameServer(target: ServerIdentity, stack: ServerIdentity): boolean {
  return target.systemIdentifier && stack.systemIdentifier ? target.systemIdentifier === stack.systemIdentifier : target.startedAt === stack.startedAt;
}

function stackRefusal(target: ServerIdentity, stack: ServerIdentity, policy: TargetPolicy, where: string): Refusal | undefined {
  if (!sameServer(target, stack)) return undefined;
  const allowed = target.database !== stack.database && (policy.stackDatabases.has(target.database) || policy.stackDatabases.has("*"));
  if (allowed) return undefined;
  return new Refusal(
    "target_refused",
    `${where} is Portcullis's own PostgreSQL server (the one holding its metadata), which can never be a target${target.database === stack.database ? "" : `; the operator can allow its database "${target.database}" with TARGET_STACK_DATABASES`}`,
  );
}

/**
 * Tests a stored or unsaved connection row, every server of it: the route (SSH hops and their host keys,
 * TLS), the stack's own PostgreSQL refused by what the server is, roles that reach the server's programs
 * or files refused (unless the operator allows them), and each replica: reachable the same way, not the
 * stack's server, in recovery, and a standby of this primary, with its lag.
 */
export async function testConnectionRow(
  row: TargetConnectionRow,
  keyring: SecretKeyring,
  options: ConnectionTestOptions = {},
): Promise<ConnectionTestResult> {
  const policy = options.policy ?? targetPolicyFromEnv();
  const words = { host: row.host, port: row.port, database: row.database, username: row.username, sshHops: row.sshHops };
  const routeKind = row.sshHops && row.sshHops.length > 0 ? "ssh" : "direct";
  const keyProblem = storedKeyProblem(row, keyring);
  if (keyProblem) return { ok: false, stage: "ssh_auth", message: keyProblem, error: keyProblem, code: "invalid_input", route: routeKind };
  let opened: { client: pg.Client; route: TargetRoute } | undefined;
  try {
    opened = await connect(row, policy, keyring, options.resolve);
    const session = opened.client;
    const query: Query = async (sql, values) => (await session.query(sql, values)).rows;
    const started = performance.now();
    const version = await query("SHOW server_version");
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;
    const [target, stack] = await Promise.all([identityOver(query), stackIdentity(options.metadata)]);
    const refused = stackRefusal(target, stack, policy, `${row.host}:${row.port}`);
    if (refused) throw refused;

    const facts = (await query(ROLE_FACTS, [SERVER_ROLES]))[0] as
      | { rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolbypassrls: boolean; rolreplication: boolean; server_roles: string[] }
      | undefined;
    const role: RolePrivileges = {
      role: facts?.rolname ?? row.username,
      superuser: facts?.rolsuper ?? false,
      createRole: facts?.rolcreaterole ?? false,
      bypassRls: facts?.rolbypassrls ?? false,
      replication: facts?.rolreplication ?? false,
      serverRoles: facts?.server_roles ?? [],
      checkedAt: new Date().toISOString(),
    };
    const powerful = explainPowerfulRole(role, row.database);
    if (powerful && !policy.allowPowerfulRoles) throw new Refusal("powerful_role", powerful, role);

    const replicas: ReplicaReport[] = [];
    for (const replica of row.replicas ?? []) replicas.push(await testReplica(row, replica, target, stack, policy, keyring, options.resolve));
    const failed = replicas.find((r) => !r.ok);
    if (failed) {
      const message = `replica "${failed.name}" (${failed.host}:${failed.port}): ${failed.message}`;
      return { ok: false, stage: failed.stage, message, error: message, code: "replica_failed", route: routeKind, serverVersion: String(version[0]?.server_version), latencyMs, role, replicas };
    }
    return { ok: true, route: routeKind, serverVersion: String(version[0]?.server_version), latencyMs, role, ...(replicas.length ? { replicas } : {}) };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, stage: "policy", message: error.message, error: error.message, code: error.code, route: routeKind, ...(error.role ? { role: error.role } : {}) };
    const failure = describeTargetFailure(error, words);
    const result: ConnectionTestResult = { ok: false, stage: failure.stage, message: failure.message, error: failure.message, route: routeKind };
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") result.code = code;
    if (error instanceof SshHostKeyError) result.hostKeys = [{ position: error.position, host: error.host, offered: error.offered, pinned: error.expected }];
    return result;
  } finally {
    if (opened) await endQuietly(opened.client);
    await opened?.route.close().catch(() => {});
  }
}

/**
 * A stored hop key whose passphrase protection asks for more bcrypt work than accepted (or that ssh2
 * and the route's gate would read differently) is refused before the route would open it: keys saved
 * before the check existed, or written by scripts. Cheap: a protected key is not opened here.
 */
function storedKeyProblem(row: TargetConnectionRow, keyring: SecretKeyring): string | undefined {
  for (const hop of row.sshHops ?? []) {
    let key: string;
    let passphrase: string | undefined;
    try {
      key = openSshSecret(keyring, row.id, hop.position, "key", hop.privateKeyCiphertext);
      passphrase = hop.passphraseCiphertext ? openSshSecret(keyring, row.id, hop.position, "passphrase", hop.passphraseCiphertext) : undefined;
    } catch {
      continue; // the route says in words that the stored key cannot be opened
    }
    const problem = sshKeyShapeProblem(key, passphrase);
    if (problem) return `the private key for user "${hop.username}" at ${hop.host}:${hop.port}: ${problem}`;
  }
  return undefined;
}

// Lag as the gateway's probe measures it: nothing to replay means no lag, whatever the last commit's age.
const REPLICA_STATE = `SELECT pg_is_in_recovery() AS in_recovery,
  CASE WHEN NOT pg_is_in_recovery() THEN NULL
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE floor(extract(epoch FROM (now() - pg_last_xact_replay_timestamp())) * 1000) END AS lag_ms`;

async function testReplica(
  row: TargetConnectionRow,
  replica: NonNullable<TargetConnectionRow["replicas"]>[number],
  primary: ServerIdentity,
  stack: ServerIdentity,
  policy: TargetPolicy,
  keyring: SecretKeyring,
  resolve: Resolver | undefined,
): Promise<ReplicaReport> {
  const base = { name: replica.name, host: replica.host, port: replica.port };
  const server = forServer(row, replica);
  let opened: { client: pg.Client; route: TargetRoute } | undefined;
  try {
    opened = await connect(server, policy, keyring, resolve);
    const session = opened.client;
    const query: Query = async (sql, values) => (await session.query(sql, values)).rows;
    const identity = await identityOver(query);
    const refused = stackRefusal(identity, stack, policy, `${replica.host}:${replica.port}`);
    if (refused) return { ...base, ok: false, stage: "policy", message: refused.message };
    const [state] = await query(REPLICA_STATE);
    const inRecovery = state?.in_recovery === true;
    if (!inRecovery) return { ...base, ok: false, inRecovery, stage: "policy", message: "this server is not in recovery: it is a primary, not a read replica (reads sent there could see other data)" };
    if (primary.systemIdentifier && identity.systemIdentifier && primary.systemIdentifier !== identity.systemIdentifier)
      return { ...base, ok: false, inRecovery, stage: "policy", message: "this server is a standby of another cluster (its system identifier differs from the primary's)" };
    const lagMs = state?.lag_ms === null || state?.lag_ms === undefined ? undefined : Number(state.lag_ms);
    return { ...base, ok: true, inRecovery, ...(lagMs !== undefined ? { lagMs } : {}) };
  } catch (error) {
    const failure = describeTargetFailure(error, { host: replica.host, port: replica.port, database: row.database, username: row.username, sshHops: row.sshHops });
    return { ...base, ok: false, stage: failure.stage, message: failure.message };
  } finally {
    if (opened) await endQuietly(opened.client);
    await opened?.route.close().catch(() => {});
  }
}

/**
 * Tests fields that are not stored (the dashboard's Test button, the CLI before saving): their secrets
 * are sealed in memory with a keyring that lives for this test only. An edit that keeps stored secrets
 * (a blank key or password) goes through completeFieldsFromStored first: a hop without its key fails
 * here, before any network traffic.
 */
export async function testConnectionFields(fields: ConnectionFields, options: ConnectionTestOptions = {}): Promise<ConnectionTestResult> {
  // The passphrase of a protected key is checked off the event loop, before anything is dialled.
  const keyProblem = await sshHopKeysProblem(fields.ssh?.hops ?? []);
  if (keyProblem) return { ok: false, stage: "ssh_auth", message: keyProblem.message, error: keyProblem.message, code: "invalid_input", route: "ssh" };
  const keyring = ephemeralKeyring();
  let row: TargetConnectionRow;
  try {
    row = rowFromFields(fields, randomUUID(), keyring);
  } catch (error) {
    const message = (error as Error).message;
    return { ok: false, stage: "other", message, error: message, code: "invalid_input" };
  }
  return testConnectionRow(row, keyring, options);
}
