import { isIP } from "node:net";
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from "node:tls";
import { getKeyring, type SecretKeyring } from "./secrets/index.js";
import type { TargetConnectionRow } from "./target.js";

/** The AAD a connection's client key is sealed with: a key copied onto another row fails to open. */
export const clientKeyContext = (connectionId: string): string => `${connectionId}:ssl-key`;

/** Seals a client certificate's private key (PEM) for `connections.ssl_client_key_ciphertext`. */
export function sealClientKey(keyring: SecretKeyring, connectionId: string, pem: string): { ciphertext: string; keyId: string } {
  return keyring.seal(pem, clientKeyContext(connectionId));
}

export function openClientKey(keyring: SecretKeyring, connectionId: string, ciphertext: string): string {
  return keyring.open(ciphertext, clientKeyContext(connectionId));
}

/** `id` is needed only to open a client key (its AAD). */
export type TlsRow = Pick<TargetConnectionRow, "host" | "sslMode" | "sslCaCert"> &
  Partial<Pick<TargetConnectionRow, "id" | "sslClientCert" | "sslClientKeyCiphertext" | "sslServerName">>;

/** The name verify-full checks: the one the operator gave, else the host as typed (never the pinned address). */
export function expectedServerName(row: Pick<TargetConnectionRow, "host" | "sslServerName">): string {
  return row.sslServerName?.trim() || row.host;
}

/**
 * TLS options per libpq's sslmode semantics. `prefer` cannot be expressed in node-postgres (it has no
 * fallback to plaintext), so it is treated as `disable` on loopback hosts and `require` elsewhere:
 * never silently plaintext across a network.
 *
 * The identity check is explicit rather than left to tls.connect: the session dials the checked
 * address (or a tunnel's stream), and tls.connect falls back to checking "localhost" or the address when
 * no servername is set, which is not the name the operator asked us to verify. The client certificate
 * goes with every mode that speaks TLS (a server with `clientcert=verify-full` asks for it whatever the
 * client verifies).
 */
export function tlsOptions(row: TlsRow, keyring?: SecretKeyring): false | ConnectionOptions {
  const loopback = row.host === "localhost" || row.host.startsWith("127.") || row.host === "::1";
  if (row.sslMode === "disable" || (row.sslMode === "prefer" && loopback)) return false;
  const client = clientIdentity(row, keyring);
  const name = expectedServerName(row);
  // SNI may only carry a DNS name (RFC 6066 §3).
  const sni = isIP(name) === 0 ? { servername: name } : {};
  switch (row.sslMode) {
    case "prefer":
    case "require":
      return { rejectUnauthorized: false, ...sni, ...client };
    case "verify_ca":
      // Chain checked against the CA; the host name is not (libpq's verify-ca).
      return { rejectUnauthorized: true, ca: caBundle(row.sslCaCert), checkServerIdentity: () => undefined, ...sni, ...client };
    case "verify_full":
      return {
        rejectUnauthorized: true,
        ca: caBundle(row.sslCaCert),
        checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
        ...sni,
        ...client,
      };
  }
}

/**
 * A bundle may hold several certificates (an intermediate and its root, or two roots during a CA
 * rotation); each is passed on its own so none is silently dropped. Absent: the system's roots.
 */
function caBundle(pem: string | null | undefined): string[] | undefined {
  if (!pem?.trim()) return undefined;
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  // Not PEM-shaped at all: hand it over as is, so TLS fails loudly instead of trusting the system roots.
  return certs && certs.length > 0 ? certs : [pem];
}

function clientIdentity(row: TlsRow, keyring: SecretKeyring | undefined): { cert?: string; key?: string } {
  const cert = row.sslClientCert?.trim();
  const sealed = row.sslClientKeyCiphertext;
  if (!cert && !sealed) return {};
  // Half an identity is a misconfiguration: refuse to connect rather than connect without it.
  if (!cert || !sealed || !row.id) throw new Error(`connection ${row.id ?? "(unsaved)"} has a client ${cert ? "certificate without its key" : "key without its certificate"}`);
  return { cert, key: openClientKey(keyring ?? getKeyring(), row.id, sealed) };
}
