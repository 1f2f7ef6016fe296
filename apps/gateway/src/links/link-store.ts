import { parseScope } from "@portcullis/policy";
import { explainPowerfulRole } from "@portcullis/db/operations";
import { effectiveLink } from "../access/effective-link.js";
import { GrantDirectory } from "../access/grant-directory.js";
import type { LinkRecord, Principal } from "../context.js";
import type { Logger } from "../logger.js";
import { connectionOf, databaseJson, LINK_QUERY, savedToolOf } from "./link-rows.js";
import { TtlCache } from "./ttl-cache.js";

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
    const record = rows[0] ? this.recordOf(rows[0]) : null;
    if (generation === this.generation) this.cache.set(linkId, record, record ? this.ttlMs : Math.min(this.ttlMs, 5_000));
    return record;
  }

  /**
   * The link's records, one per database, sharing the link's identity, status and tools; the first is
   * the link's own. A further database whose scope or connection cannot be read is left out (refused as
   * a database the link does not have), the link stays; the first one unreadable makes the link unusable.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a row of LINK_QUERY
  private recordOf(row: Record<string, any>): LinkRecord | null {
    const linkId = String(row.id);
    const parsed = parseScope(row.scope);
    const connection = connectionOf(row.connection);
    if (!parsed.ok || !connection) {
      // A stored scope that no longer validates must not be enforced half-way: the link is unusable.
      this.logger.error({ linkId, errors: parsed.ok ? "connection row" : parsed.errors }, "link scope does not parse; refusing the link");
      return null;
    }
    const savedTools: LinkRecord["savedTools"] = Object.freeze(
      (Array.isArray(row.tools) ? row.tools : []).flatMap((raw: unknown) => {
        const tool = savedToolOf(raw);
        if (!tool) this.logger.error({ linkId, tool: (raw as { name?: unknown } | null)?.name }, "saved tool does not parse; leaving it out");
        return tool ? [tool] : [];
      }),
    );
    const shared = {
      id: linkId,
      teamId: String(row.team_id),
      name: String(row.name),
      status: row.status as LinkRecord["status"],
      disabledTools: Object.freeze(Array.isArray(row.disabled_tools) ? row.disabled_tools.map(String) : []),
      savedTools,
    };
    const databases: LinkRecord[] = [
      { ...shared, scope: parsed.scope, connection: connection.row, adminRefusal: adminRefusalOf(connection.rolePrivileges, connection.row.database), databaseName: String(row.database_name) },
    ];
    for (const raw of Array.isArray(row.databases) ? row.databases : []) {
      const database = databaseJson.safeParse(raw);
      const scope = database.success ? parseScope(database.data.scope) : null;
      const further = database.success ? connectionOf(database.data.connection) : null;
      if (!database.success || !scope?.ok || !further) {
        this.logger.error({ linkId, database: database.success ? database.data.name : null, errors: scope && !scope.ok ? scope.errors : undefined }, "link database does not parse; refusing that database");
        continue;
      }
      databases.push({ ...shared, scope: scope.scope, connection: further.row, adminRefusal: adminRefusalOf(further.rolePrivileges, further.row.database), databaseName: database.data.name });
    }
    // Every record lists them all (the same frozen array), so whichever one a call holds can switch.
    const all = Object.freeze(databases);
    for (const record of databases) (record as { databases?: readonly LinkRecord[] }).databases = all;
    return databases[0]!;
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
    // Any of the link's databases: a further database's connection changing changes the link too.
    this.cache.deleteWhere((link) => link?.connection.id === connectionId || (link?.databases ?? []).some((d) => d.connection.id === connectionId));
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
