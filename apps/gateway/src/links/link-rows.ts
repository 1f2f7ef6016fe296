import type { TargetConnectionRow } from "@portcullis/db/target";
import { z } from "zod";
import type { SavedToolRecord } from "../context.js";

/**
 * The SQL and the parsing of one link's load (issue 17): the link, its own connection, its further
 * databases with theirs, every connection's SSH route and replicas, and its curated tools — one round
 * trip. Connections are built as JSON in SQL so every database's row has the same fields (the first's
 * included), and parsed with zod: a row we cannot read is refused, never half-used.
 */

// Everything a pool, a tunnel and TLS need of a connection (TargetConnectionRow), plus the role facts
// elevation reads. `c` is the connections alias.
const CONNECTION_JSON = `json_build_object(
    'id', c.id, 'host', c.host, 'port', c.port, 'database', c.database, 'username', c.username,
    'secret_ciphertext', c.secret_ciphertext, 'ssl_mode', c.ssl_mode::text, 'ssl_ca_cert', c.ssl_ca_cert,
    'ssl_client_cert', c.ssl_client_cert, 'ssl_client_key_ciphertext', c.ssl_client_key_ciphertext,
    'ssl_server_name', c.ssl_server_name, 'replica_max_lag_ms', c.replica_max_lag_ms, 'role_privileges', c.role_privileges,
    'ssh_hops', (SELECT coalesce(json_agg(json_build_object('position', h.position, 'host', h.host, 'port', h.port, 'username', h.username,
        'private_key_ciphertext', h.private_key_ciphertext, 'passphrase_ciphertext', h.passphrase_ciphertext, 'host_key_sha256', h.host_key_sha256)
        ORDER BY h.position), '[]'::json) FROM connection_ssh_hops h WHERE h.connection_id = c.id AND h.team_id = c.team_id),
    'replicas', (SELECT coalesce(json_agg(json_build_object('name', r.name, 'host', r.host, 'port', r.port) ORDER BY r.position, r.name), '[]'::json)
        FROM connection_replicas r WHERE r.connection_id = c.id AND r.team_id = c.team_id))`;

export const LINK_QUERY = `SELECT l.id, l.team_id, l.name, l.status::text AS status, l.scope, l.database_name, l.disabled_tools,
    ${CONNECTION_JSON} AS connection,
    (SELECT coalesce(json_agg(json_build_object('name', d.name, 'scope', d.scope, 'connection', d.connection) ORDER BY d.position, d.name), '[]'::json)
       FROM (SELECT ld.name, ld.scope, ld.position, ${CONNECTION_JSON} AS connection
               FROM link_databases ld JOIN connections c ON c.id = ld.connection_id AND c.team_id = ld.team_id
              WHERE ld.link_id = l.id AND ld.team_id = l.team_id) d) AS databases,
    (SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name, 'title', t.title, 'description', t.description, 'sql', t.sql,
        'parameters', t.parameters, 'database_name', t.database_name, 'connection_id', t.connection_id) ORDER BY t.name), '[]'::json)
       FROM link_tools t WHERE t.link_id = l.id AND t.team_id = l.team_id) AS tools
  FROM links l JOIN connections c ON c.id = l.connection_id AND c.team_id = l.team_id
  WHERE l.id = $1`;

const connectionJson = z.object({
  id: z.string(),
  host: z.string(),
  port: z.number().int(),
  database: z.string(),
  username: z.string(),
  secret_ciphertext: z.string(),
  ssl_mode: z.enum(["disable", "prefer", "require", "verify_ca", "verify_full"]),
  ssl_ca_cert: z.string().nullable(),
  ssl_client_cert: z.string().nullable(),
  ssl_client_key_ciphertext: z.string().nullable(),
  ssl_server_name: z.string().nullable(),
  replica_max_lag_ms: z.number().int(),
  role_privileges: z.unknown(),
  ssh_hops: z.array(
    z.object({
      position: z.number().int(),
      host: z.string(),
      port: z.number().int(),
      username: z.string(),
      private_key_ciphertext: z.string(),
      passphrase_ciphertext: z.string().nullable(),
      host_key_sha256: z.string().nullable(),
    }),
  ),
  replicas: z.array(z.object({ name: z.string(), host: z.string(), port: z.number().int() })),
});

export type ConnectionJson = z.infer<typeof connectionJson>;

export function connectionOf(raw: unknown): { row: TargetConnectionRow; rolePrivileges: unknown } | null {
  const parsed = connectionJson.safeParse(raw);
  if (!parsed.success) return null;
  const c = parsed.data;
  return {
    row: {
      id: c.id,
      host: c.host,
      port: c.port,
      database: c.database,
      username: c.username,
      secretCiphertext: c.secret_ciphertext,
      sslMode: c.ssl_mode,
      sslCaCert: c.ssl_ca_cert,
      sslClientCert: c.ssl_client_cert,
      sslClientKeyCiphertext: c.ssl_client_key_ciphertext,
      sslServerName: c.ssl_server_name,
      sshHops: c.ssh_hops.map((h) => ({
        position: h.position,
        host: h.host,
        port: h.port,
        username: h.username,
        privateKeyCiphertext: h.private_key_ciphertext,
        passphraseCiphertext: h.passphrase_ciphertext,
        hostKeySha256: h.host_key_sha256,
      })),
      replicas: c.replicas,
      replicaMaxLagMs: c.replica_max_lag_ms,
    },
    rolePrivileges: c.role_privileges,
  };
}

export const databaseJson = z.object({ name: z.string(), scope: z.unknown(), connection: z.unknown() });

const PARAMETER_TYPES = ["string", "integer", "number", "boolean", "date", "timestamp", "uuid"] as const;

const toolJson = z.object({
  id: z.string(),
  name: z.string(),
  title: z.string().nullable(),
  description: z.string(),
  sql: z.string(),
  parameters: z.array(
    z.object({
      name: z.string(),
      type: z.enum(PARAMETER_TYPES),
      description: z.string().default(""),
      required: z.boolean().default(false),
      default: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    }),
  ),
  database_name: z.string().nullable(),
  connection_id: z.string().nullable(),
});

/** A stored tool we cannot read is left out (and said), never exposed with guessed parameters. */
export function savedToolOf(raw: unknown): SavedToolRecord | null {
  const parsed = toolJson.safeParse(raw);
  if (!parsed.success) return null;
  const t = parsed.data;
  return Object.freeze({
    id: t.id,
    name: t.name,
    title: t.title,
    description: t.description,
    sql: t.sql,
    parameters: Object.freeze(t.parameters.map((p) => Object.freeze({ ...p }))),
    databaseName: t.database_name,
    connectionId: t.connection_id,
  });
}
