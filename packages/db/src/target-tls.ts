import type { ConnectionOptions } from "node:tls";
import type { TargetConnectionRow } from "./target.js";

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
