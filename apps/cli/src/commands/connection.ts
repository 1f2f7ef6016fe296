import type { Command } from "commander";
import { addConnection, confirmHostKey, findTeam, retestConnection, testConnectionFields } from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import { parseTargetUrl } from "@portcullis/db/target";
import type { SslMode } from "@portcullis/db/client";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { findConnection } from "./resolve.js";
import { FINGERPRINT, caBundle, collect, describeTest, reachFromOptions, withHopNumbers, type ReachOptions, type TestView } from "./connection-reach.js";

const SSL_MODES = ["disable", "prefer", "require", "verify_ca", "verify_full"];

interface AddOptions extends OutputOptions, ReachOptions {
  team: string;
  name: string;
  url?: string;
  host?: string;
  port: string;
  database?: string;
  user?: string;
  password?: string;
  sslMode?: string;
  caFile?: string;
  test: boolean;
  sampleValues?: boolean;
}

/**
 * What a connection looks like outside the database: never a secret, sealed or not — the password,
 * the client key, the SSH keys and passphrases are reduced to whether one is stored.
 */
function publicConnection(row: { secretCiphertext: string; secretKeyId: string } & Record<string, unknown>) {
  const { secretCiphertext: _secret, secretKeyId: _keyId, sslCaCert, sslClientKeyCiphertext, sslClientCert, sshHops, ...rest } = row;
  const hops = (sshHops as { privateKeyCiphertext?: string; passphraseCiphertext?: string | null }[] | undefined)?.map(
    ({ privateKeyCiphertext, passphraseCiphertext, ...hop }) => ({ ...hop, hasKey: Boolean(privateKeyCiphertext), hasPassphrase: Boolean(passphraseCiphertext) }),
  );
  return { ...rest, hasCaCert: Boolean(sslCaCert), hasClientCert: Boolean(sslClientCert), hasClientKey: Boolean(sslClientKeyCiphertext), ...(hops ? { sshHops: hops } : {}) };
}

const confirmCommand = (team: string, name: string) => (hop: number, fingerprint: string) =>
  `pnpm portcullis connection host-key confirm ${JSON.stringify(name)} --team ${team} --hop ${hop} --fingerprint ${fingerprint}`;

/** What the audit trail records of the route: where it goes and what is pinned, never a key. */
function reachAudit(fields: Awaited<ReturnType<typeof reachFromOptions>>) {
  return {
    sshHops: fields.ssh?.hops.map((h) => ({ host: h.host, port: h.port, username: h.username, hostKeySha256: h.hostKeySha256 ?? null })) ?? [],
    replicas: fields.replicas ?? [],
    sslServerName: fields.tls?.serverName ?? null,
  };
}

/** Reads the connection with its route and replicas, for output. */
async function withReach(id: string) {
  return db().connection.findUniqueOrThrow({
    where: { id },
    include: { sshHops: { orderBy: { position: "asc" } }, replicas: { orderBy: { position: "asc" }, select: { name: true, host: true, port: true } } },
  });
}

export function registerConnectionCommands(program: Command): void {
  const connection = program.command("connection").description("manage target database connections");
  connection
    .command("add")
    .description("add a PostgreSQL connection (tested before it is saved)")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>")
    .option("--url <url>", "postgresql://user:password@host:port/database?sslmode=…")
    .option("--host <host>")
    .option("--port <port>", "port", "5432")
    .option("--database <database>")
    .option("--user <user>")
    .option("--password <password>", "prefer PORTCULLIS_DB_PASSWORD to keep it out of shell history")
    .option("--ssl-mode <mode>", SSL_MODES.join(" | "))
    .option("--ca-file <path>", "CA certificate (PEM) for verify_ca / verify_full (same as --ssl-root-cert)")
    .option("--ssl-root-cert <path>", "CA bundle (PEM) the server's certificate must chain to")
    .option("--ssl-cert <path>", "client certificate (PEM), for servers that ask for one (clientcert=verify-full)")
    .option("--ssl-key <path>", "the client certificate's private key (PEM); stored sealed, never shown again")
    .option("--ssl-server-name <name>", "the name verify_full checks in the server's certificate when it is not --host")
    .option("--ssh <user@host[:port]>", "reach the database through this SSH bastion (it dials --host:--port)")
    .option("--ssh-key <path>", "the bastion's private key file; stored sealed")
    .option("--ssh-passphrase-env <VAR>", "environment variable holding the key's passphrase")
    .option("--ssh-jump <user@host[:port]>", "a jump host before the bastion (repeatable, in dialling order, like ssh -J)", collect)
    .option("--ssh-jump-key <path>", "a jump host's key (one per --ssh-jump, or one for all; default: --ssh-key)", collect)
    .option("--ssh-host-key <SHA256:…>", "the bastion's host key fingerprint, if you already know it (ssh-keygen -lf)")
    .option("--replica <NAME=host:port>", "a read replica (repeatable); same database, user, password, tunnel and TLS", collect)
    .option("--replica-max-lag <seconds>", "skip a replica further behind than this (default 30)")
    .option("--sample-values", "let AI descriptions see a few sample values of visible columns")
    .option("--no-test", "save without testing (status stays 'untested')")
    .option("--json", "print JSON")
    .action(async (options: AddOptions) => {
      try {
        const team = await findTeam(db(), options.team);
        let fields;
        if (options.url) {
          fields = parseTargetUrl(options.url);
          if (!fields.password) fields.password = options.password ?? process.env.PORTCULLIS_DB_PASSWORD ?? "";
        } else {
          if (!options.host || !options.database || !options.user) {
            throw new PortcullisError("invalid_input", "give --url, or --host, --database and --user");
          }
          const port = Number(options.port);
          if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PortcullisError("invalid_input", `bad port "${options.port}"`);
          fields = {
            host: options.host,
            port,
            database: options.database,
            username: options.user,
            password: options.password ?? process.env.PORTCULLIS_DB_PASSWORD ?? "",
            sslMode: "prefer" as SslMode,
          };
        }
        if (options.sslMode) {
          const mode = options.sslMode.replace("-", "_");
          if (!SSL_MODES.includes(mode)) throw new PortcullisError("invalid_input", `unknown SSL mode "${options.sslMode}"`);
          fields.sslMode = mode as SslMode;
        }
        if (options.caFile && options.sslRootCert) throw new PortcullisError("invalid_input", "give --ssl-root-cert or --ca-file, not both");
        const sslCaCert = await caBundle(options.sslRootCert ?? options.caFile, options.sslRootCert ? "--ssl-root-cert" : "--ca-file");
        const all = { ...fields, sslCaCert, ...(await reachFromOptions(options)) };
        // Tested before the transaction opens (DNS and a connection to the target take seconds), as the
        // dashboard does; the result is what addConnection stores.
        const tested = (options.test === false ? undefined : await testConnectionFields(all, { metadata: db() })) as (TestView & Awaited<ReturnType<typeof testConnectionFields>>) | undefined;
        // A tunnel's first test meets host keys nobody confirmed yet: that is the one failure saved
        // (addConnection records what each hop offered; nothing is pinned), so the operator can compare
        // the fingerprint and confirm it.
        const awaitingHostKey = Boolean(tested && !tested.ok && tested.stage === "ssh_host_key" && all.ssh && tested.hostKeys?.every((k) => k.pinned === null));
        if (tested && !tested.ok && !awaitingHostKey) throw new PortcullisError("invalid_input", `connection test failed at ${tested.stage ?? "other"}: ${tested.message ?? tested.error}`);
        const saved = await audited(
          (tx) => addConnection(tx, { teamId: team.id, name: options.name, fields: all, test: options.test, tested, sampleValuesOptIn: options.sampleValues ?? false }),
          (c) => [{ teamId: team.id, action: "connection.create", target: { type: "connection", id: c.id, name: c.name }, after: { ...publicConnection(c), ...reachAudit(all) } }],
        );
        const retested = awaitingHostKey ? tested : undefined;
        const row = await withReach(saved.id);
        const test = row.lastTestResult as { serverVersion?: string; latencyMs?: number } | null;
        emit(options, { connection: publicConnection(row), ...(retested ? { test: withHopNumbers(retested) } : {}) }, () =>
          retested
            ? `added connection ${row.name} (${row.id}), not usable yet:\n${describeTest(retested, confirmCommand(options.team, row.name))}`
            : `added connection ${row.name} (${row.id})${test ? `: PostgreSQL ${test.serverVersion}, ${test.latencyMs} ms` : " (not tested)"}`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
  connection
    .command("test")
    .description("re-test a stored connection")
    .requiredOption("--team <slug|id>")
    .argument("<connection>", "name or id")
    .option("--json", "print JSON")
    .action(async (name: string, options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findConnection(team.id, name);
        const result = (await retestConnection(db(), row.id)) as TestView & Awaited<ReturnType<typeof retestConnection>>;
        emit(options, { result: withHopNumbers(result) }, () => describeTest(result, confirmCommand(options.team, row.name)));
        if (!result.ok) process.exitCode = 1;
      } catch (error) {
        fail(options, error);
      }
    });
  connection
    .command("host-key")
    .description("SSH host keys of a connection's tunnel")
    .command("confirm")
    .description("pin the host key a hop offered in the last test (refused unless it is exactly that key)")
    .requiredOption("--team <slug|id>")
    .argument("<connection>", "name or id")
    .requiredOption("--hop <n>", "the hop number `connection test` prints, counting from 1 (1: dialled first, i.e. the first --ssh-jump, or the bastion when there is none)")
    .requiredOption("--fingerprint <SHA256:…>", "the fingerprint you checked, as `connection test` printed it")
    .option("--json", "print JSON")
    .action(async (name: string, options: OutputOptions & { team: string; hop: string; fingerprint: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const hop = Number(options.hop);
        if (!Number.isInteger(hop) || hop < 1 || hop > 8) throw new PortcullisError("invalid_input", `--hop counts from 1 (1: the hop dialled first, as \`connection test\` prints it) up to 8, got "${options.hop}"`);
        if (!FINGERPRINT.test(options.fingerprint)) throw new PortcullisError("invalid_input", "--fingerprint wants SHA256:… as `connection test` printed it");
        const row = await findConnection(team.id, name);
        // Pinned only if it is exactly what the hop offered to the last test, and kept only if the test
        // with it then passes (or stops at the next hop's first-seen key): confirmHostKey decides.
        const { pinned, test } = await audited(
          (tx) => confirmHostKey(tx, team.id, row.id, hop - 1, options.fingerprint),
          (r) =>
            r.pinned
              ? [{ teamId: team.id, action: "connection.host_key_confirm", target: { type: "connection", id: row.id, name: row.name }, after: { hop, hostKeySha256: options.fingerprint } }]
              : [],
        );
        const view = test as TestView;
        emit(options, { connection: { id: row.id, name: row.name }, hop, pinned, hostKeySha256: pinned ? options.fingerprint : null, test: withHopNumbers(test as TestView) }, () =>
          `${pinned ? `pinned hop ${hop}'s host key ${options.fingerprint}` : `not pinned: the test with that key failed`}\n${describeTest(view, confirmCommand(options.team, row.name))}`,
        );
        if (!view.ok) process.exitCode = 1;
      } catch (error) {
        fail(options, error);
      }
    });
  connection
    .command("list")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const rows = await db().connection.findMany({
          where: { teamId: team.id },
          orderBy: { createdAt: "asc" },
          include: { sshHops: { orderBy: { position: "asc" } }, replicas: { orderBy: { position: "asc" }, select: { name: true, host: true, port: true } } },
        });
        const via = (r: (typeof rows)[number]) => (r.sshHops.length ? `  via ssh ${r.sshHops.map((h) => `${h.username}@${h.host}:${h.port}`).join(" -> ")}` : "");
        const reps = (r: (typeof rows)[number]) => (r.replicas.length ? `  replicas ${r.replicas.map((x) => `${x.name}=${x.host}:${x.port}`).join(",")}` : "");
        emit(options, { connections: rows.map(publicConnection) }, () =>
          rows.map((r) => `${r.id}  ${r.name}  ${r.username}@${r.host}:${r.port}/${r.database}  ${r.status}${via(r)}${reps(r)}`).join("\n") || "no connections",
        );
      } catch (error) {
        fail(options, error);
      }
    });
}
