import type pg from "pg";
import { parseScope } from "@portcullis/policy";
import type { TargetConnectionRow } from "@portcullis/db/target";
import type { LinkRecord } from "../context.js";
import type { Logger } from "../logger.js";
import { TtlCache } from "./ttl-cache.js";

const LINK_QUERY = `SELECT l.id, l.team_id, l.name, l.status::text AS status, l.scope,
    c.id AS c_id, c.host, c.port, c.database, c.username, c.secret_ciphertext, c.ssl_mode::text AS ssl_mode, c.ssl_ca_cert
  FROM links l JOIN connections c ON c.id = l.connection_id
  WHERE l.id = $1`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Link lookups (link + connection row), cached in-process. Scope edits and connection changes are
 * broadcast on the revocation channel and dropped here at once; the TTL is only a backstop for a
 * missed message.
 */
export class LinkStore {
  private readonly cache: TtlCache<LinkRecord | null>;
  private readonly pending = new Map<string, Promise<LinkRecord | null>>();

  constructor(
    private readonly metadata: pg.Pool,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    this.cache = new TtlCache(10_000);
  }

  /** The link, or null when it does not exist (or its scope no longer parses). */
  async get(linkId: string): Promise<LinkRecord | null> {
    if (!UUID.test(linkId)) return null;
    const key = linkId.toLowerCase();
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.load(key).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async load(linkId: string): Promise<LinkRecord | null> {
    const { rows } = await this.metadata.query(LINK_QUERY, [linkId]);
    const row = rows[0];
    let record: LinkRecord | null = null;
    if (row) {
      const parsed = parseScope(row.scope);
      if (parsed.ok) {
        const connection: TargetConnectionRow = {
          id: row.c_id,
          host: row.host,
          port: row.port,
          database: row.database,
          username: row.username,
          secretCiphertext: row.secret_ciphertext,
          sslMode: row.ssl_mode,
          sslCaCert: row.ssl_ca_cert,
        };
        record = { id: row.id, teamId: row.team_id, name: row.name, status: row.status, scope: parsed.scope, connection };
      } else {
        // A stored scope that no longer validates must not be enforced half-way: the link is unusable.
        this.logger.error({ linkId, errors: parsed.errors }, "link scope does not parse; refusing the link");
      }
    }
    this.cache.set(linkId, record, record ? this.ttlMs : Math.min(this.ttlMs, 5_000));
    return record;
  }

  invalidateLink(linkId: string): void {
    this.cache.delete(linkId.toLowerCase());
  }

  invalidateConnection(connectionId: string): void {
    this.cache.deleteWhere((link) => link?.connection.id === connectionId);
  }

  clear(): void {
    this.cache.clear();
  }
}
