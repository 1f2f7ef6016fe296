import type { SecretKeyring } from "@portcullis/db/secrets";
import { loadSshHops } from "@portcullis/db/ssh";
import type { TargetConnectionRow } from "@portcullis/db/target";
import { openTargetRoute, type TargetRoute } from "@portcullis/db/target-route";
import type pg from "pg";

export interface ConnectionRecord extends TargetConnectionRow {
  teamId: string;
  sampleValuesOptIn: boolean;
}

/** Loads a connection row with its SSH route (null when it was deleted since the job was queued). */
export async function loadConnection(pool: pg.Pool, connectionId: string): Promise<ConnectionRecord | null> {
  const { rows } = await pool.query(
    `SELECT id, team_id, host, port, database, username, secret_ciphertext, ssl_mode, ssl_ca_cert, sample_values_opt_in,
            ssl_client_cert, ssl_client_key_ciphertext, ssl_server_name
     FROM connections WHERE id = $1`,
    [connectionId],
  );
  const r = rows[0];
  if (!r) return null;
  const hops = await loadSshHops(pool, [r.id]);
  return {
    id: r.id,
    teamId: r.team_id,
    host: r.host,
    port: r.port,
    database: r.database,
    username: r.username,
    secretCiphertext: r.secret_ciphertext,
    sslMode: r.ssl_mode,
    sslCaCert: r.ssl_ca_cert,
    sslClientCert: r.ssl_client_cert,
    sslClientKeyCiphertext: r.ssl_client_key_ciphertext,
    sslServerName: r.ssl_server_name,
    sshHops: hops.get(r.id) ?? [],
    sampleValuesOptIn: r.sample_values_opt_in,
  };
}

/**
 * The way to the target (direct, or through its SSH hops), checked against the operator's target policy
 * each time the worker opens one (never the stack's own servers, networks as allowed) and pinned to the
 * address that was checked: a name rebound after the connection was saved cannot redirect
 * introspection. The caller closes the route after its session ended.
 */
export async function openConnectionRoute(connection: ConnectionRecord, keyring: SecretKeyring): Promise<TargetRoute> {
  const route = await openTargetRoute(connection, { keyring });
  return { ...route, config: { ...route.config, application_name: "portcullis-worker" } };
}
