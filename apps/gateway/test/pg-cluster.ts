import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
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

  /**
   * `durable`: production durability (fsync and synchronous_commit left on), for tests that SIGKILL the
   * server and need real crash recovery; otherwise fast and unsafe, as the shared test cluster.
   */
  static async create(options: { durable?: boolean } = {}): Promise<TempCluster> {
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
      `printf "listen_addresses = '127.0.0.1'\\nport = ${port}\\nunix_socket_directories = '${dir}'\\n${options.durable ? "" : "fsync = off\\nsynchronous_commit = off\\nfull_page_writes = off\\n"}shared_buffers = 32MB\\nmax_connections = 200\\n" >> ${dir}/data/postgresql.conf`,
    ]);
    await cluster.start();
    return cluster;
  }

  private async asPostgres(command: string, args: string[]): Promise<void> {
    if (process.getuid?.() === 0) await run("runuser", ["-u", "postgres", "--", command, ...args]);
    else await run(command, args);
  }

  /**
   * Starts the server; after a SIGKILL the orphaned backends may still hold the shared memory for a
   * moment (the new postmaster refuses to start until they are gone), so it is retried.
   */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.asPostgres(`${this.bin}/pg_ctl`, ["-D", `${this.dir}/data`, "-l", `${this.dir}/server.log`, "-w", "-t", "60", "start"]);
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** SIGKILL of the postmaster: its backends notice and exit; the next start runs crash recovery. */
  async kill(): Promise<number> {
    const pid = Number((await readFile(`${this.dir}/data/postmaster.pid`, "utf8")).split("\n")[0]);
    process.kill(pid, "SIGKILL");
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      try {
        process.kill(pid, 0);
      } catch {
        return pid;
      }
    }
    throw new Error(`postmaster ${pid} did not exit within 10 s`);
  }

  log(): Promise<string> {
    return readFile(`${this.dir}/server.log`, "utf8").catch(() => "");
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
