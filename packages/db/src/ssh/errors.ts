/**
 * Typed SSH failures, so the connection test and the gateway (describeTargetFailure) can say in words
 * which hop failed and at which stage. Messages name hosts, ports and fingerprints, never key material.
 */

/** Where on the chain a failure happened: `position` is the hop's dialling order, 0 first. */
export interface SshHopRef {
  position: number;
  host: string;
  port: number;
}

/** The hop offered a host key that is not the confirmed one (or none is confirmed yet). */
export class SshHostKeyError extends Error {
  readonly code = "ssh_host_key";
  readonly position: number;
  readonly host: string;
  readonly port: number;
  /** What the server offered, "SHA256:<base64 without padding>" as `ssh-keygen -lf` prints it. */
  readonly offered: string;
  /** The confirmed fingerprint; null when none was confirmed (first use is never accepted silently). */
  readonly expected: string | null;

  constructor(hop: SshHopRef, offered: string, expected: string | null) {
    super(
      expected
        ? `the SSH server at ${hop.host}:${hop.port} (hop ${hop.position + 1}) offered host key ${offered}, but ${expected} is the confirmed one: refused (the server was replaced or someone is in the way)`
        : `the SSH server at ${hop.host}:${hop.port} (hop ${hop.position + 1}) offered host key ${offered}, which is not confirmed yet: confirm it if you expect it`,
    );
    this.name = "SshHostKeyError";
    this.position = hop.position;
    this.host = hop.host;
    this.port = hop.port;
    this.offered = offered;
    this.expected = expected;
  }
}

/** The hop refused our key, or the key (or its passphrase) cannot be used. */
export class SshAuthError extends Error {
  readonly code = "ssh_auth";
  readonly position: number;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly reason: "rejected" | "key_unreadable" | "passphrase";

  constructor(hop: SshHopRef & { username: string }, reason: SshAuthError["reason"], detail?: string) {
    const where = `${hop.username}@${hop.host}:${hop.port} (hop ${hop.position + 1})`;
    super(
      reason === "rejected"
        ? `the SSH server at ${hop.host}:${hop.port} (hop ${hop.position + 1}) did not accept the private key for user "${hop.username}"`
        : reason === "passphrase"
          ? `the passphrase does not open the private key for ${where}${detail ? ` (${detail})` : ""}`
          : `the private key for ${where} cannot be read${detail ? ` (${detail})` : ""}`,
    );
    this.name = "SshAuthError";
    this.position = hop.position;
    this.host = hop.host;
    this.port = hop.port;
    this.username = hop.username;
    this.reason = reason;
  }
}

/**
 * Stages of the chain: `connect` (reaching the hop: TCP or the previous hop's forward), `handshake`
 * (SSH protocol), `forward` (the hop refused or could not open the forward to the next hop or the
 * database), `closed` (the chain dropped while in use), `timeout`.
 */
export type SshStage = "connect" | "handshake" | "forward" | "closed" | "timeout";

export class SshConnectError extends Error {
  readonly code = "ssh";
  readonly position: number;
  readonly host: string;
  readonly port: number;
  readonly stage: SshStage;
  /** The underlying system error code (ECONNREFUSED, ETIMEDOUT, …) when there was one. */
  override readonly cause?: unknown;
  readonly causeCode?: string;

  constructor(hop: SshHopRef, stage: SshStage, message: string, cause?: unknown) {
    super(message);
    this.name = "SshConnectError";
    this.position = hop.position;
    this.host = hop.host;
    this.port = hop.port;
    this.stage = stage;
    this.cause = cause;
    const code = (cause as { code?: unknown } | undefined)?.code;
    this.causeCode = typeof code === "string" ? code : undefined;
  }
}
