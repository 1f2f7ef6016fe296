import type pg from "pg";
import { TtlCache } from "../links/ttl-cache.js";

/** "schema.table" -> { table description, column -> description } */
export type Descriptions = Map<string, { table?: string; columns: Map<string, string> }>;

/**
 * Stored (AI-written or human-edited) descriptions per connection, from schema_descriptions. They
 * change rarely (the worker or a human edit), so a minute of staleness is fine.
 */
export class DescriptionStore {
  private readonly cache = new TtlCache<Descriptions>(1_000);
  private readonly pending = new Map<string, Promise<Descriptions>>();

  constructor(
    private readonly metadata: pg.Pool,
    private readonly ttlMs = 60_000,
  ) {}

  get(connectionId: string): Promise<Descriptions> {
    const cached = this.cache.get(connectionId);
    if (cached) return Promise.resolve(cached);
    let pending = this.pending.get(connectionId);
    if (!pending) {
      pending = this.load(connectionId).finally(() => this.pending.delete(connectionId));
      this.pending.set(connectionId, pending);
    }
    return pending;
  }

  private async load(connectionId: string): Promise<Descriptions> {
    const { rows } = await this.metadata.query<{ schema_name: string; table_name: string; column_name: string; description: string }>(
      "SELECT schema_name, table_name, column_name, description FROM schema_descriptions WHERE connection_id = $1",
      [connectionId],
    );
    const out: Descriptions = new Map();
    for (const row of rows) {
      const key = `${row.schema_name}.${row.table_name}`;
      let entry = out.get(key);
      if (!entry) out.set(key, (entry = { columns: new Map() }));
      if (row.column_name === "") entry.table = row.description;
      else entry.columns.set(row.column_name, row.description);
    }
    this.cache.set(connectionId, out, this.ttlMs);
    return out;
  }

  invalidate(connectionId: string): void {
    this.cache.delete(connectionId);
  }
}
