import { execFile, spawn, type ChildProcess } from "node:child_process";
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./index.js";

const run = promisify(execFile);
const SSHD = "/usr/sbin/sshd";

export interface SshClientKey {
  /** OpenSSH private key text, as a user pastes it. */
  privateKey: string;
  passphrase?: string;
}

export interface TestSshd {
  host: string;
  port: number;
  username: string;
  /** "SHA256:…" as `ssh-keygen -lf` prints it for the server's host key (computed by ssh-keygen, not by us). */
  hostKeyFingerprint: string;
  clientKeys: {
    /** ed25519, no passphrase, authorized. */
    ed25519: SshClientKey;
    /** RSA with a passphrase, authorized. */
    rsaWithPassphrase: SshClientKey & { passphrase: string };
    /** ed25519, NOT in authorized_keys. */
    unauthorized: SshClientKey;
  };
  /** Adds a public key line (`ssh-… AAAA… comment`) to authorized_keys; sshd reads it at each login. */
  authorize(publicKey: string): Promise<void>;
  /** Everything sshd wrote (-e: its log goes to stderr), across restarts. */
  log(): string;
  /** Established TCP connections to this sshd right now (server side, from /proc/net/tcp{,6}). */
  connections(): Promise<number>;
  /** SIGKILL to sshd and every session process it forked: every tunnel drops at once, mid-statement. */
  kill(): Promise<void>;
  /**
   * SIGSTOP to sshd and its sessions: the TCP connections stay up but nothing answers (a bastion that
   * hung, or a network that silently drops packets). `resume()` sends SIGCONT.
   */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Starts sshd again on the same port with the same host key (after kill or stop). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function keygen(file: string, type: "ed25519" | "rsa", passphrase = ""): Promise<string> {
  await run("ssh-keygen", ["-q", "-t", type, ...(type === "rsa" ? ["-b", "2048"] : []), "-N", passphrase, "-C", `portcullis-test-${type}`, "-f", file]);
  return readFile(file, "utf8");
}

/** Process ids of `pid`'s descendants (sshd forks a privileged monitor and a user process per session). */
async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // The command name is in parentheses and may contain spaces: the ppid is the 2nd field after it.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = parents.get(ppid) ?? [];
    list.push(Number(entry));
    parents.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

async function signalTree(pid: number, signal: NodeJS.Signals): Promise<void> {
  for (const p of [pid, ...(await descendants(pid))]) {
    try {
      process.kill(p, signal);
    } catch {
      // Already gone.
    }
  }
}

async function waitForBanner(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host);
      socket.setTimeout(1_000);
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString().startsWith("SSH-2.0"));
      });
      socket.once("error", () => resolve(false));
      socket.once("timeout", () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function establishedTo(port: number): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT"; state 01 is ESTABLISHED.
      if (fields[1]?.endsWith(`:${hex}`) && fields[3] === "01") count++;
    }
  }
  return count;
}

/**
 * A real OpenSSH server on a free loopback port (or the one the caller reserved), with its own host key and an authorized_keys for
 * generated client keys, allowing TCP forwarding anywhere (it plays the bastion or the jump host).
 * Runs as the current user; as root it needs a privilege-separation directory and StrictModes off (the
 * temp directory is not root-owned 0755 all the way up).
 */
export async function startSshd(options: { listenAddress?: string; port?: number } = {}): Promise<TestSshd> {
  const listen = options.listenAddress ?? "127.0.0.1";
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-sshd-"));
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 }).catch(() => {});
  const hostKey = path.join(dir, "host_ed25519");
  await keygen(hostKey, "ed25519");
  const printed = (await run("ssh-keygen", ["-lf", `${hostKey}.pub`])).stdout;
  const hostKeyFingerprint = /SHA256:[A-Za-z0-9+/]+/.exec(printed)?.[0];
  if (!hostKeyFingerprint) throw new Error(`ssh-keygen printed no fingerprint: ${printed}`);
  const ed25519 = { privateKey: await keygen(path.join(dir, "client_ed25519"), "ed25519") };
  const passphrase = "correct horse battery staple";
  const rsa = { privateKey: await keygen(path.join(dir, "client_rsa"), "rsa", passphrase), passphrase };
  const unauthorized = { privateKey: await keygen(path.join(dir, "client_other"), "ed25519") };
  const authorized = await Promise.all(["client_ed25519.pub", "client_rsa.pub"].map((f) => readFile(path.join(dir, f), "utf8")));
  await writeFile(path.join(dir, "authorized_keys"), authorized.join(""), { mode: 0o600 });
  // A given port is one the caller reserved ahead (the e2e stack allows exactly that loopback address
  // and port as a target before any spec runs); otherwise any free one.
  const port = options.port ?? (await freePort());
  const username = userInfo().username;
  const config = path.join(dir, "sshd_config");
  await writeFile(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${listen.includes(":") ? `[${listen}]` : listen}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "AllowTcpForwarding yes",
      "PermitOpen any",
      "AllowAgentForwarding no",
      "X11Forwarding no",
      "PermitTTY no",
      "MaxStartups 100",
      "MaxSessions 100",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  let log = "";
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
    proc.once("exit", (code, signal) => (log += `[sshd exited: ${code ?? signal}]\n`));
    child = proc;
    try {
      await waitForBanner(port, listen);
    } catch (error) {
      proc.kill("SIGKILL");
      throw new Error(`${(error as Error).message}:\n${log}`);
    }
  };
  const killAll = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc?.pid || proc.exitCode !== null) return;
    // A paused sshd would never act on SIGTERM.
    if (signal !== "SIGKILL") await signalTree(proc.pid, "SIGCONT");
    // Sessions first, then the listener; each pid is one this helper started (or its sshd forked).
    for (const pid of (await descendants(proc.pid)).reverse()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    await exited;
  };
  const signalAll = async (signal: NodeJS.Signals) => {
    if (child?.pid) await signalTree(child.pid, signal);
  };
  await start();
  return {
    host: listen,
    port,
    username,
    hostKeyFingerprint,
    clientKeys: { ed25519, rsaWithPassphrase: rsa, unauthorized },
    authorize: (publicKey) => appendFile(path.join(dir, "authorized_keys"), `${publicKey.trim()}\n`),
    log: () => log,
    connections: () => establishedTo(port),
    kill: () => killAll("SIGKILL"),
    pause: () => signalAll("SIGSTOP"),
    resume: () => signalAll("SIGCONT"),
    restart: async () => {
      await killAll("SIGKILL");
      await start();
    },
    stop: async () => {
      await killAll("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}
