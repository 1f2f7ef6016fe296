import type { SecretKeyring } from "@portcullis/db/secrets";
import { resolveTargetClientConfig, type TargetConnectionRow } from "@portcullis/db/target";
import type pg from "pg";

export interface ConnectionRecord extends TargetConnectionRow {
  teamId: string;
  sampleValuesOptIn: boolean;
}

/** Loads a connection row (null when it was deleted since the job was queued). */
export async function loadConnection(pool: pg.Pool, connectionId: string): Promise<ConnectionRecord | null> {
  const { rows } = await pool.query(
    `SELECT id, team_id, host, port, database, username, secret_ciphertext, ssl_mode, ssl_ca_cert, sample_values_opt_in
     FROM connections WHERE id = $1`,
    [connectionId],
  );
  const r = rows[0];
  if (!r) return null;
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
    sampleValuesOptIn: r.sample_values_opt_in,
  };
}

/**
 * The target is checked against the operator's target policy (never the stack's own servers,
 * networks as allowed) each time the worker opens a session, and the session is pinned to the address
 * that was checked: a name rebound after the connection was saved cannot redirect introspection.
 */
export async function connectionConfig(connection: ConnectionRecord, keyring: SecretKeyring): Promise<pg.ClientConfig> {
  return { ...(await resolveTargetClientConfig(connection, undefined, keyring)), application_name: "portcullis-worker" };
}
