import type { ConnectionOptions } from "node:tls";
import type pg from "pg";
import { getKeyring, type SecretKeyring } from "./secrets/index.js";

/** The fields of a `connections` row needed to reach the target database. */
export interface TargetConnectionRow {
  id: string;
  host: string;
  port: number;
  database: string;
  username: string;
  secretCiphertext: string;
  sslMode: "disable" | "prefer" | "require" | "verify_ca" | "verify_full";
  sslCaCert: string | null;
}

/**
 * TLS options per libpq's sslmode semantics. `prefer` cannot be expressed in node-postgres (it has no
 * fallback to plaintext), so it is treated as `disable` on loopback hosts and `require` elsewhere:
 * never silently plaintext across a network.
 */
export function tlsOptions(row: Pick<TargetConnectionRow, "host" | "sslMode" | "sslCaCert">): false | ConnectionOptions {
  const loopback = row.host === "localhost" || row.host.startsWith("127.") || row.host === "::1";
  switch (row.sslMode) {
    case "disable":
      return false;
    case "prefer":
      return loopback ? false : { rejectUnauthorized: false };
    case "require":
      return { rejectUnauthorized: false };
    case "verify_ca":
      // Chain checked against the CA; the host name is not (libpq's verify-ca).
      return { rejectUnauthorized: true, ca: row.sslCaCert ?? undefined, checkServerIdentity: () => undefined };
    case "verify_full":
      return { rejectUnauthorized: true, ca: row.sslCaCert ?? undefined };
  }
}

/** A pg client/pool config for a connection row; the password is decrypted only here, in memory. */
export function targetClientConfig(row: TargetConnectionRow, keyring: SecretKeyring = getKeyring()): pg.ClientConfig {
  return {
    host: row.host,
    port: row.port,
    database: row.database,
    user: row.username,
    password: keyring.open(row.secretCiphertext, row.id),
    ssl: tlsOptions(row),
    application_name: "portcullis",
    connectionTimeoutMillis: 5000,
  };
}

/** Parses a postgresql:// URL into the connection fields the dashboard and CLI store. */
export function parseTargetUrl(url: string): {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  sslMode: TargetConnectionRow["sslMode"];
} {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("not a valid URL: expected postgresql://user:password@host:port/database");
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:") {
    throw new Error(`unsupported scheme "${parsed.protocol}": expected postgresql://`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (!parsed.hostname) throw new Error("the URL names no host");
  if (!database) throw new Error("the URL names no database (…/database at the end)");
  if (!parsed.username) throw new Error("the URL names no user");
  const sslParam = (parsed.searchParams.get("sslmode") ?? "prefer").replace("-", "_");
  const sslModes = ["disable", "prefer", "require", "verify_ca", "verify_full"] as const;
  const sslMode = sslModes.find((m) => m === sslParam);
  if (!sslMode) throw new Error(`unknown sslmode "${sslParam}"`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    sslMode,
  };
}
