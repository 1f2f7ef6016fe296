import { parseScope } from "@portcullis/policy";
import { explainPowerfulRole } from "@portcullis/db/operations";
import type { TargetConnectionRow } from "@portcullis/db/target";
import { effectiveLink } from "../access/effective-link.js";
import { GrantDirectory } from "../access/grant-directory.js";
import type { LinkRecord, Principal } from "../context.js";
import type { Logger } from "../logger.js";
import { TtlCache } from "./ttl-cache.js";

const LINK_QUERY = `SELECT l.id, l.team_id, l.name, l.status::text AS status, l.scope,
    c.id AS c_id, c.host, c.port, c.database, c.username, c.secret_ciphertext, c.ssl_mode::text AS ssl_mode, c.ssl_ca_cert,
    c.role_privileges
  FROM links l JOIN connections c ON c.id = l.connection_id
  WHERE l.id = $1`;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the store needs of the metadata pool (a `pg.Pool`). */
export interface MetadataQueryable {
  query(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/**
 * Link lookups (link + connection row), cached in-process. Scope edits, status changes and connection
 * changes arrive as access-change notifications and are dropped here at once; the TTL is only a
 * backstop for a missed message.
 */
export class LinkStore {
  private readonly cache: TtlCache<LinkRecord | null>;
  private readonly pending = new Map<string, Promise<LinkRecord | null>>();
  /**
   * Bumped by every invalidation. A lookup that started before one may have read the old row; it
   * answers its own callers but is not cached, or a narrowed scope could be put back by a slow query.
   */
  private generation = 0;
  /** Members' active access grants (issue 15), folded into the record a member's call runs under. */
  readonly grants: GrantDirectory;

  constructor(
    private readonly metadata: MetadataQueryable,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    this.cache = new TtlCache(10_000);
    this.grants = new GrantDirectory(metadata, ttlMs);
  }

  /**
   * The record a principal's call runs under: for a member holding access grants on this link, the
   * link with its grants applied (one stable object per link record and grant set); else `link` itself.
   * Synchronous once the member's grants are cached.
   */
  forPrincipal(link: LinkRecord, principal: Pick<Principal, "userId">): LinkRecord | Promise<LinkRecord> {
    if (!principal.userId) return link;
    const grants = this.grants.get(link.id, principal.userId);
    return grants instanceof Promise ? grants.then((g) => effectiveLink(link, g, this.logger)) : effectiveLink(link, grants, this.logger);
  }

  /** The link, or null when it does not exist (or its scope no longer parses). */
  async get(linkId: string): Promise<LinkRecord | null> {
    if (!UUID.test(linkId)) return null;
    const key = linkId.toLowerCase();
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    let pending = this.pending.get(key);
    if (!pending) {
      const started = this.load(key).finally(() => {
        if (this.pending.get(key) === started) this.pending.delete(key);
      });
      pending = started;
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async load(linkId: string): Promise<LinkRecord | null> {
    const generation = this.generation;
    const { rows } = await this.metadata.query(LINK_QUERY, [linkId]);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a row of LINK_QUERY
    const row = rows[0] as Record<string, any> | undefined;
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
        record = {
          id: row.id,
          teamId: row.team_id,
          name: row.name,
          status: row.status,
          scope: parsed.scope,
          connection,
          adminRefusal: adminRefusalOf(row.role_privileges, row.database),
        };
      } else {
        // A stored scope that no longer validates must not be enforced half-way: the link is unusable.
        this.logger.error({ linkId, errors: parsed.errors }, "link scope does not parse; refusing the link");
      }
    }
    if (generation === this.generation) this.cache.set(linkId, record, record ? this.ttlMs : Math.min(this.ttlMs, 5_000));
    return record;
  }

  /** The cached answer only (undefined: not cached); never queries. */
  peek(linkId: string): LinkRecord | null | undefined {
    return UUID.test(linkId) ? this.cache.get(linkId.toLowerCase()) : null;
  }

  /** Starts a new generation: in-flight lookups are neither cached nor joined by later callers. */
  private bump(): void {
    this.generation++;
    this.pending.clear();
  }

  invalidateLink(linkId: string): void {
    this.bump();
    this.cache.delete(linkId.toLowerCase());
  }

  invalidateConnection(connectionId: string): void {
    this.bump();
    this.cache.deleteWhere((link) => link?.connection.id === connectionId);
  }

  invalidateTeam(teamId: string): void {
    this.bump();
    this.cache.deleteWhere((link) => link?.teamId === teamId);
    this.grants.clear();
  }

  clear(): void {
    this.bump();
    this.cache.clear();
    this.grants.clear();
  }
}

/**
 * Why admin access may not reach a connection, from the role facts its last test stored (what the
 * dashboard's assertScopeAllowedForConnection reads when a link is saved): a role that reaches the
 * server's programs or files. Unknown facts (never tested) are refused too: elevation fails closed.
 */
function adminRefusalOf(facts: unknown, database: string): string | null {
  const f = facts as { role?: unknown; superuser?: unknown; createRole?: unknown; serverRoles?: unknown } | null;
  if (!f || typeof f.role !== "string" || typeof f.superuser !== "boolean" || typeof f.createRole !== "boolean" || !Array.isArray(f.serverRoles))
    return "the connection's role has not been checked (test the connection in the dashboard)";
  const why = explainPowerfulRole({ role: f.role, superuser: f.superuser, createRole: f.createRole, serverRoles: f.serverRoles.filter((r): r is string => typeof r === "string") }, database);
  return why ?? null;
}
