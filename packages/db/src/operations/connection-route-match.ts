import type { SslMode } from "../client.js";
import { normalizeFingerprint } from "../ssh/fingerprint.js";
import type { ConnectionFields } from "./connection-fields.js";

/** What of a stored connection decides where its secrets go and how they are protected on the way. */
export interface StoredRoute {
  host: string;
  port: number;
  database: string;
  username: string;
  sslMode: SslMode;
  sslCaCert: string | null;
  sslClientCert: string | null;
  sslServerName: string | null;
  sshHops: { position: number; host: string; port: number; username: string; hostKeySha256: string | null }[];
  replicas: { host: string; port: number }[];
}

const text = (v: string | null | undefined) => v?.trim() || null;
// Certificates compare as their text: a pasted copy may differ only in line endings and outer blanks.
const pem = (v: string | null | undefined) => v?.replace(/\r\n/g, "\n").trim() || null;

/**
 * For each hop of the edit, whether it and every hop before it are the stored ones (server, port, user)
 * with no other pinned key given: only then does a stored key for it go to the server it was stored for.
 * A pin the form gives that differs from the stored one makes the hop another route, not the same one.
 */
export function matchingHopPrefix(fields: ConnectionFields, stored: StoredRoute): boolean[] {
  const storedHops = [...stored.sshHops].sort((a, b) => a.position - b.position);
  let same = true;
  return (fields.ssh?.hops ?? []).map((hop, i) => {
    const s = storedHops[i];
    const formPin = normalizeFingerprint(hop.hostKeySha256);
    same = same && !!s && hop.host.trim() === s.host && hop.port === s.port && hop.username.trim() === s.username && (formPin === null || formPin === s.hostKeySha256);
    return same;
  });
}

/**
 * Why a stored hop key may not be used for this edit even though its hop is the stored one (null when it
 * may): the key opens the bastion, and the bastion then forwards wherever the route after it says — so
 * every later hop (with its pin), the database server and each replica must be as stored, or the key
 * becomes a way to dial any host and port the bastion reaches.
 */
export function hopOnwardChange(fields: ConnectionFields, stored: StoredRoute): string | null {
  if (fields.host.trim() !== stored.host || fields.port !== stored.port) return "the database server changed";
  const hops = matchingHopPrefix(fields, stored);
  if (hops.length !== stored.sshHops.length || hops.some((same) => !same)) return "the SSH hops changed";
  for (const replica of fields.replicas ?? [])
    if (!stored.replicas.some((r) => r.host === replica.host.trim() && r.port === replica.port)) return `replica ${replica.name} is new or moved`;
  return null;
}

/**
 * Why the edit's route is not the stored one, in words (null when it is): the server, database and
 * user, the TLS mode, CA, server name and client certificate, every SSH hop with its pinned key, and
 * each replica (one added or moved would receive the password). A replica removed or renamed is no
 * change: nothing goes anywhere new.
 */
export function routeChange(fields: ConnectionFields, stored: StoredRoute): string | null {
  if (fields.host.trim() !== stored.host || fields.port !== stored.port) return "the server changed";
  if (fields.database !== stored.database || fields.username !== stored.username) return "the database or user changed";
  if (fields.sslMode !== stored.sslMode) return "the TLS mode changed";
  if (pem(fields.sslCaCert) !== pem(stored.sslCaCert)) return "the CA certificate changed";
  if (text(fields.tls?.serverName) !== text(stored.sslServerName)) return "the TLS server name changed";
  if (pem(fields.tls?.clientCert) !== pem(stored.sslClientCert)) return "the client certificate changed";
  const hops = matchingHopPrefix(fields, stored);
  if (hops.length !== stored.sshHops.length || hops.some((same) => !same)) return "the SSH route changed";
  for (const replica of fields.replicas ?? [])
    if (!stored.replicas.some((r) => r.host === replica.host.trim() && r.port === replica.port)) return `replica ${replica.name} is new or moved`;
  return null;
}
