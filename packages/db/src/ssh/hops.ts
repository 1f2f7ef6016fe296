import type { TargetSshHop } from "../target.js";

interface Queryable {
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

interface HopRow {
  connection_id: string;
  position: number;
  host: string;
  port: number;
  username: string;
  private_key_ciphertext: string;
  passphrase_ciphertext: string | null;
  host_key_sha256: string | null;
}

/**
 * The SSH hops of some connections, in dialling order, for processes that read connection rows with
 * plain SQL (the gateway's link rows, the worker): every reader builds `TargetConnectionRow.sshHops`
 * the same way. A connection without hops is absent from the map (connect directly).
 */
export async function loadSshHops(db: Queryable, connectionIds: readonly string[]): Promise<Map<string, TargetSshHop[]>> {
  const out = new Map<string, TargetSshHop[]>();
  if (connectionIds.length === 0) return out;
  const { rows } = await db.query<HopRow>(
    `SELECT connection_id, position, host, port, username, private_key_ciphertext, passphrase_ciphertext, host_key_sha256
       FROM connection_ssh_hops WHERE connection_id = ANY($1::uuid[]) ORDER BY connection_id, position`,
    [connectionIds],
  );
  for (const r of rows) {
    let hops = out.get(r.connection_id);
    if (!hops) out.set(r.connection_id, (hops = []));
    hops.push({
      position: r.position,
      host: r.host,
      port: r.port,
      username: r.username,
      privateKeyCiphertext: r.private_key_ciphertext,
      passphraseCiphertext: r.passphrase_ciphertext,
      hostKeySha256: r.host_key_sha256,
    });
  }
  return out;
}
