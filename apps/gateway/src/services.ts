import type { Catalog, CatalogCache, PolicyChecker } from "@portcullis/policy";
import type pg from "pg";
import type { AuditProducer } from "./audit/producer.js";
import type { LinkRecord } from "./context.js";
import type { DescriptionStore } from "./execution/descriptions.js";
import type { MaskKeys } from "./execution/mask-keys.js";
import type { TargetPools } from "./execution/pools.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";

/** The long-lived parts every tool call uses; built once per gateway instance. */
export interface Services {
  logger: Logger;
  metrics: GatewayMetrics;
  pools: TargetPools;
  catalogs: CatalogCache;
  checker: PolicyChecker;
  descriptions: DescriptionStore;
  audit: AuditProducer;
  /**
   * The metadata database's pool (bounded waits): issue 15's operations (write requests, access grants)
   * run their SQL on it through packages/db's SqlPool (no Prisma on the gateway).
   */
  metadata: pg.Pool;
  /** Per-link keys of the `hash` mask (team secret read or created on first need). */
  maskKeys: MaskKeys;
  maxResultBytes: number;
  /** get_schema's budget for the full text (GATEWAY_SCHEMA_BUDGET_BYTES); unset = 32 KiB. */
  schemaBudgetBytes?: number;
  /** Catalog of the link's target database (cached; loaded through the connection's pool). */
  catalogFor(link: LinkRecord): Promise<Catalog>;
  /** The connection's pool; rejects with TargetRefusedError when the target policy refuses it. */
  poolFor(link: LinkRecord): Promise<pg.Pool>;
  /** After DDL through a link: drop the cached catalog here and tell the other instances. */
  schemaChanged(link: LinkRecord): void;
}
