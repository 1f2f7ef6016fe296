import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, type TestDatabase } from "@portcullis/db/testing";

const run = promisify(execFile);

async function pgBin(): Promise<string> {
  const versions = (await readdir("/usr/lib/postgresql")).sort((a, b) => Number(b) - Number(a));
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}


/**
 * A throwaway PostgreSQL cluster in a temp directory, so a test can stop and start a target server
 * without touching the shared test cluster. PostgreSQL refuses to run as root: as root, it runs as
 * the `postgres` system user.
 */
export class TempCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async create(): Promise<TempCluster> {
    const [bin, port, dir] = await Promise.all([pgBin(), freePort(), mkdtemp(path.join(tmpdir(), "gw-pg-"))]);
    const cluster = new TempCluster(dir, port, bin);
    if (process.getuid?.() === 0) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
      await chmod(dir, 0o700);
    }
    const pwfile = path.join(tmpdir(), `gw-pw-${port}`);
    await writeFile(pwfile, "portcullis\n", { mode: 0o644 });
    await cluster.asPostgres(`${bin}/initdb`, ["-D", `${dir}/data`, "-U", "portcullis", `--pwfile=${pwfile}`, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]);
    await rm(pwfile, { force: true });
    await cluster.asPostgres("bash", [
      "-c",
      `printf "listen_addresses = '127.0.0.1'\\nport = ${port}\\nunix_socket_directories = '${dir}'\\nfsync = off\\nsynchronous_commit = off\\nfull_page_writes = off\\nshared_buffers = 32MB\\n" >> ${dir}/data/postgresql.conf`,
    ]);
    await cluster.start();
    return cluster;
  }

  private async asPostgres(command: string, args: string[]): Promise<void> {
    if (process.getuid?.() === 0) await run("runuser", ["-u", "postgres", "--", command, ...args]);
    else await run(command, args);
  }

  start(): Promise<void> {
    return this.asPostgres(`${this.bin}/pg_ctl`, ["-D", `${this.dir}/data`, "-l", `${this.dir}/server.log`, "-w", "-t", "60", "start"]);
  }

  stop(): Promise<void> {
    return this.asPostgres(`${this.bin}/pg_ctl`, ["-D", `${this.dir}/data`, "-m", "fast", "-w", "stop"]);
  }

  url(database = "postgres"): string {
    return `postgresql://portcullis:portcullis@127.0.0.1:${this.port}/${database}`;
  }

  /** As a TestDatabase for GatewayWorld; dropping it removes the whole cluster. */
  database(name = "postgres"): TestDatabase {
    return { name, url: this.url(name), drop: () => this.destroy() };
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}
