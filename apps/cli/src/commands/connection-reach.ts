import { readFile } from "node:fs/promises";
import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";

/** The issue-17 options of `connection add`, as commander hands them over. */
export interface ReachOptions {
  ssh?: string;
  sshKey?: string;
  sshPassphraseEnv?: string;
  sshJump?: string[];
  sshJumpKey?: string[];
  sshHostKey?: string;
  sslCert?: string;
  sslKey?: string;
  sslRootCert?: string;
  sslServerName?: string;
  replica?: string[];
  replicaMaxLag?: string;
}

export interface ReachFields {
  ssh?: { hops: { host: string; port: number; username: string; privateKey: string; passphrase?: string; hostKeySha256?: string }[] };
  tls?: { clientCert?: string; clientKey?: string; serverName?: string };
  replicas?: { name: string; host: string; port: number }[];
  replicaMaxLagMs?: number;
}

export const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const HOST = /^[A-Za-z0-9._-]{1,255}$|^\[[0-9A-Fa-f:.]+\]$/;
const portSchema = z.coerce.number().int().min(1).max(65535);

/** commander's collector for repeatable options. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `user@host[:port]` (IPv6 in brackets), as ssh's -J spells a hop. */
export function parseSshTarget(spec: string, option: string): { host: string; port: number; username: string } {
  const match = /^([^@\s]+)@(\[[^\]]+\]|[^:\s]+)(?::(\d+))?$/.exec(spec.trim());
  if (!match || !HOST.test(match[2]!)) throw new PortcullisError("invalid_input", `${option} wants user@host[:port], got "${spec}"`);
  const port = portSchema.safeParse(match[3] ?? "22");
  if (!port.success) throw new PortcullisError("invalid_input", `${option}: bad port in "${spec}"`);
  return { username: match[1]!, host: match[2]!.replace(/^\[|\]$/g, ""), port: port.data };
}

/** `NAME=host:port` for --replica. */
export function parseReplica(spec: string): { name: string; host: string; port: number } {
  const match = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})=(\[[^\]]+\]|[^:\s]+)(?::(\d+))?$/.exec(spec.trim());
  if (!match || !HOST.test(match[2]!)) throw new PortcullisError("invalid_input", `--replica wants NAME=host:port (name: letters, digits, _ . -), got "${spec}"`);
  const port = portSchema.safeParse(match[3] ?? "5432");
  if (!port.success) throw new PortcullisError("invalid_input", `--replica: bad port in "${spec}"`);
  return { name: match[1]!, host: match[2]!.replace(/^\[|\]$/g, ""), port: port.data };
}

async function readPem(file: string, option: string, kind: "key" | "certificate"): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new PortcullisError("invalid_input", `${option}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const shape = kind === "key" ? /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/ : /-----BEGIN CERTIFICATE-----/;
  if (!shape.test(text)) throw new PortcullisError("invalid_input", `${option}: ${file} is not a PEM ${kind === "key" ? "private key" : "certificate"}`);
  return text;
}

/**
 * The route, TLS and replicas from the options. Hops are in dialling order: the jump hosts as given,
 * then the --ssh bastion, which reaches the database. A jump host uses its own --ssh-jump-key (one per
 * jump, in order, or one for all) or else the bastion's key; the passphrase goes with the bastion's key file.
 */
export async function reachFromOptions(options: ReachOptions): Promise<ReachFields> {
  const fields: ReachFields = {};
  const jumps = options.sshJump ?? [];
  if (!options.ssh && (jumps.length || options.sshKey || options.sshJumpKey?.length || options.sshHostKey))
    throw new PortcullisError("invalid_input", "--ssh-key, --ssh-jump and --ssh-host-key go with --ssh user@bastion");
  if (options.ssh) {
    const bastion = parseSshTarget(options.ssh, "--ssh");
    if (!options.sshKey) throw new PortcullisError("invalid_input", "--ssh needs --ssh-key FILE (the private key; agents are not used)");
    const bastionKey = await readPem(options.sshKey, "--ssh-key", "key");
    let passphrase: string | undefined;
    if (options.sshPassphraseEnv) {
      passphrase = process.env[options.sshPassphraseEnv];
      if (!passphrase) throw new PortcullisError("invalid_input", `--ssh-passphrase-env: the environment variable ${options.sshPassphraseEnv} is not set`);
    }
    const jumpKeys = options.sshJumpKey ?? [];
    if (jumpKeys.length > 1 && jumpKeys.length !== jumps.length)
      throw new PortcullisError("invalid_input", `give one --ssh-jump-key per --ssh-jump (${jumps.length}), or one for all of them`);
    const hops = [];
    for (const [i, spec] of jumps.entries()) {
      const file = jumpKeys.length === 0 ? options.sshKey : jumpKeys[jumpKeys.length === 1 ? 0 : i]!;
      const key = file === options.sshKey ? bastionKey : await readPem(file, "--ssh-jump-key", "key");
      hops.push({ ...parseSshTarget(spec, "--ssh-jump"), privateKey: key, passphrase: file === options.sshKey ? passphrase : undefined });
    }
    if (options.sshHostKey && !FINGERPRINT.test(options.sshHostKey))
      throw new PortcullisError("invalid_input", "--ssh-host-key wants a fingerprint as ssh-keygen -lf prints it: SHA256:…");
    hops.push({ ...bastion, privateKey: bastionKey, passphrase, hostKeySha256: options.sshHostKey });
    if (hops.length > 8) throw new PortcullisError("invalid_input", "at most 8 SSH hops");
    fields.ssh = { hops };
  }
  if (options.sslCert || options.sslKey || options.sslServerName) {
    if (Boolean(options.sslCert) !== Boolean(options.sslKey)) throw new PortcullisError("invalid_input", "--ssl-cert and --ssl-key go together");
    if (options.sslServerName && !/^[A-Za-z0-9.-]{1,255}$/.test(options.sslServerName))
      throw new PortcullisError("invalid_input", `--ssl-server-name: "${options.sslServerName}" is not a DNS name`);
    fields.tls = {
      clientCert: options.sslCert ? await readPem(options.sslCert, "--ssl-cert", "certificate") : undefined,
      clientKey: options.sslKey ? await readPem(options.sslKey, "--ssl-key", "key") : undefined,
      serverName: options.sslServerName,
    };
  }
  if (options.replica?.length) {
    fields.replicas = options.replica.map(parseReplica);
    if (new Set(fields.replicas.map((r) => r.name)).size !== fields.replicas.length) throw new PortcullisError("invalid_input", "each --replica needs its own name");
  }
  if (options.replicaMaxLag !== undefined) {
    const seconds = z.coerce.number().positive().max(86_400).safeParse(options.replicaMaxLag);
    if (!seconds.success) throw new PortcullisError("invalid_input", `--replica-max-lag wants seconds (up to 86400), got "${options.replicaMaxLag}"`);
    fields.replicaMaxLagMs = Math.round(seconds.data * 1000);
  }
  return fields;
}

/** The CA bundle for --ssl-root-cert (the older --ca-file spells the same). */
export async function caBundle(file: string | undefined, option: string): Promise<string | null> {
  return file ? readPem(file, option, "certificate") : null;
}

export interface TestView {
  ok: boolean;
  stage?: string;
  message?: string;
  error?: string;
  serverVersion?: string;
  latencyMs?: number;
  hostKeys?: { position: number; host: string; offered: string; pinned: string | null }[];
  replicas?: { name: string; ok: boolean; lagMs?: number | null; message?: string }[];
}

/**
 * `--hop` counts from 1 (1: the hop dialled first, the first --ssh-jump or else the bastion), as the
 * text output prints it; the stored `position` counts from 0. JSON output gives each host key its `hop`
 * too, so a script passes that on rather than the position.
 */
export function withHopNumbers<T extends { hostKeys?: { position: number }[] } | null | undefined>(result: T): T {
  if (!result?.hostKeys) return result;
  return { ...result, hostKeys: result.hostKeys.map((key) => ({ ...key, hop: key.position + 1 })) };
}

/** The connection test in words: the stage, what happened, each host key offered and how to confirm it. */
export function describeTest(result: TestView, confirm: (hop: number, fingerprint: string) => string): string {
  const lines: string[] = [];
  if (result.ok) lines.push(`ok: PostgreSQL ${result.serverVersion}, ${result.latencyMs} ms`);
  else lines.push(`failed at ${result.stage ?? "other"}: ${result.message ?? result.error}`);
  for (const key of result.hostKeys ?? []) {
    if (!key.offered || key.offered === key.pinned) continue;
    lines.push(
      key.pinned
        ? `  hop ${key.position + 1} (${key.host}) offers host key ${key.offered}, NOT the confirmed ${key.pinned}: the key changed; confirm only if you know why`
        : `  hop ${key.position + 1} (${key.host}) offers host key ${key.offered} (not confirmed yet)`,
    );
    lines.push(`  check it with the server's administrator, then: ${confirm(key.position + 1, key.offered)}`);
  }
  for (const r of result.replicas ?? [])
    lines.push(`  replica ${r.name}: ${r.ok ? `up${typeof r.lagMs === "number" ? `, ${r.lagMs} ms behind` : ""}` : `down (${r.message ?? "not reachable"})`}`);
  return lines.join("\n");
}
