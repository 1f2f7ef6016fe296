import { execFile } from "node:child_process";
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./index.js";

const run = promisify(execFile);

/**
 * A throwaway PostgreSQL cluster that speaks only TLS and asks for a client certificate
 * (`clientcert=verify-full`: the chain must lead to its CA and the certificate's CN must be the role),
 * with certificates made by `openssl` for the test: a CA, a server certificate for localhost,
 * 127.0.0.1 and `db.internal`, a client certificate for the role, and a client certificate of the same
 * name from another CA (what a leaked or self-made certificate looks like).
 */
export interface TlsPostgres {
  port: number;
  host: "127.0.0.1";
  database: string;
  user: string;
  password: string;
  /** The CA that signed the server and the right client certificate (PEM). */
  ca: string;
  /** Another CA: trusting it instead must fail the handshake. */
  otherCa: string;
  clientCert: string;
  clientKey: string;
  /** Same CN, signed by `otherCa`: the server refuses it. */
  wrongClientCert: string;
  wrongClientKey: string;
  /** The DNS names and addresses the server certificate names. */
  serverNames: string[];
  stop(): Promise<void>;
}

export interface TlsPostgresOptions {
  /** Names in the server certificate besides localhost and 127.0.0.1 (default ["db.internal"]). */
  extraServerNames?: string[];
}

function pgBinDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql");
  return path.join(base, versions[0], "bin");
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await run("openssl", args, { cwd });
}

/** A P-256 key and a certificate for `cn`, signed by `ca` (or self-signed when `ca` is absent). */
async function issue(dir: string, name: string, cn: string, ca?: string, altNames?: string[]): Promise<void> {
  const key = `${name}.key`;
  if (!ca) {
    await openssl(dir, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${cn}`);
    return;
  }
  await openssl(dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
  const ext = altNames ? [`subjectAltName=${altNames.join(",")}`] : ["extendedKeyUsage=clientAuth"];
  await writeFile(path.join(dir, `${name}.ext`), `${ext.join("\n")}\n`);
  await openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`);
}

export async function startTlsPostgres(options: TlsPostgresOptions = {}): Promise<TlsPostgres> {
  const root = await mkdtemp(path.join(tmpdir(), "portcullis-tls-"));
  const certs = path.join(root, "certs");
  const data = path.join(root, "data");
  await mkdir(certs);
  const user = "tls_user";
  const password = "tls-password";
  const database = "tls_db";
  const extra = options.extraServerNames ?? ["db.internal"];
  const serverNames = ["localhost", "127.0.0.1", ...extra];

  await issue(certs, "ca", "Portcullis Test CA");
  await issue(certs, "other-ca", "Someone Else's CA");
  await issue(certs, "server", "localhost", "ca", serverNames.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)));
  await issue(certs, "client", user, "ca");
  await issue(certs, "wrong-client", user, "other-ca");

  // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` system user then.
  const asRoot = process.getuid?.() === 0;
  const runAs = (cmd: string, args: string[]) => (asRoot ? run("runuser", ["-u", "postgres", "--", cmd, ...args]) : run(cmd, args));
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    owner = { uid: Number(stdout.trim()), gid: Number(gid.trim()) };
    await chmod(root, 0o755);
  }
  await mkdir(data, { mode: 0o700 });
  const pwfile = path.join(root, "pwfile");
  await writeFile(pwfile, "portcullis\n", { mode: 0o600 });
  if (owner) {
    await chown(data, owner.uid, owner.gid);
    await chown(pwfile, owner.uid, owner.gid);
  }
  const bin = pgBinDir();
  await runAs(path.join(bin, "initdb"), ["-D", data, "-U", "portcullis", `--pwfile=${pwfile}`, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]);
  await rm(pwfile);

  for (const file of ["server.crt", "server.key", "ca.crt"]) {
    const target = path.join(data, file);
    await copyFile(path.join(certs, file), target);
    if (owner) await chown(target, owner.uid, owner.gid);
    await chmod(target, 0o600);
  }
  const port = await freePort();
  await writeFile(
    path.join(data, "postgresql.conf"),
    [
      (await readFile(path.join(data, "postgresql.conf"), "utf8")).trimEnd(),
      `listen_addresses = '127.0.0.1'`,
      `port = ${port}`,
      `unix_socket_directories = '${data}'`,
      "max_connections = 30",
      "shared_buffers = 16MB",
      "fsync = off",
      "synchronous_commit = off",
      "ssl = on",
      "ssl_cert_file = 'server.crt'",
      "ssl_key_file = 'server.key'",
      "ssl_ca_file = 'ca.crt'",
      "",
    ].join("\n"),
  );
  // Over TCP: TLS with a client certificate whose CN is the role, then the password; never plaintext.
  await writeFile(
    path.join(data, "pg_hba.conf"),
    ["local all all trust", "hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full", "hostnossl all all 127.0.0.1/32 reject", ""].join("\n"),
  );
  const pgCtl = path.join(bin, "pg_ctl");
  await runAs(pgCtl, ["-D", data, "-l", path.join(data, "server.log"), "-w", "-t", "60", "-o", `-p ${port}`, "start"]);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runAs(pgCtl, ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
    await rm(root, { recursive: true, force: true });
  };

  try {
    const admin = new pg.Client({ host: data, port, user: "portcullis", database: "postgres" });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
      await admin.query(`CREATE DATABASE ${database} OWNER ${user}`);
    } finally {
      await admin.end();
    }
    const owned = new pg.Client({ host: data, port, user: "portcullis", database });
    await owned.connect();
    try {
      await owned.query(`SET ROLE ${user}; CREATE TABLE secrets_seen (id int PRIMARY KEY, note text); INSERT INTO secrets_seen VALUES (1, 'over mTLS')`);
    } finally {
      await owned.end();
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const pem = (name: string) => readFile(path.join(certs, name), "utf8");
  return {
    port,
    host: "127.0.0.1",
    database,
    user,
    password,
    ca: await pem("ca.crt"),
    otherCa: await pem("other-ca.crt"),
    clientCert: await pem("client.crt"),
    clientKey: await pem("client.key"),
    wrongClientCert: await pem("wrong-client.crt"),
    wrongClientKey: await pem("wrong-client.key"),
    serverNames,
    stop,
  };
}
