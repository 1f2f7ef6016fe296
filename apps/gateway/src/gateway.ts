import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { CatalogCache, createPolicyChecker, loadCatalog } from "@portcullis/policy";
import { getKeyring } from "@portcullis/db/secrets";
import { targetPolicyFromEnv } from "@portcullis/db/target";
import { REVOCATION_CHANNEL, createRedis, type RevocationMessage } from "@portcullis/jobs";
import { ApiKeyStrategy } from "./auth/api-key-strategy.js";
import { Authenticator } from "./auth/authenticate.js";
import { MemberDirectory } from "./auth/member-directory.js";
import { OAuthTokenStrategy } from "./auth/oauth-strategy.js";
import { LastUsedRecorder } from "./auth/last-used.js";
import { PreAuthLimits } from "./auth/pre-auth-limits.js";
import { RateLimiter } from "./auth/rate-limit.js";
import { RefusalCoalescer } from "./audit/refusal-coalescer.js";
import { subscribeToRevocations } from "./auth/revocations.js";
import { listenForAccessChanges } from "./access/access-changes.js";
import { applyAccessChange, type AccessCaches } from "./access/apply-access-change.js";
import { AuditProducer } from "./audit/producer.js";
import type { GatewayEnv } from "./env.js";
import { DescriptionStore } from "./execution/descriptions.js";
import { MaskKeys } from "./execution/mask-keys.js";
import { TargetPools } from "./execution/pools.js";
import type { HttpDeps } from "./http/deps.js";
import { HostOriginPolicy } from "./http/host-origin.js";
import { EndedSessions } from "./http/mcp/ended-sessions.js";
import { createInternalRouter, createRouter } from "./http/router.js";
import { LinkStore } from "./links/link-store.js";
import { createLogger, type Logger } from "./logger.js";
import { ConfirmationBroker } from "./mcp/confirmation-broker.js";
import { createMcpServers, type McpServers } from "./mcp/servers.js";
import { createMetrics } from "./metrics.js";
import type { Services } from "./services.js";

/** After the grace: how long calls whose connection was closed get to record their outcome. */
const SETTLE_AFTER_GRACE_MS = 2_000;

export interface Gateway {
  /**
   * Listens on GATEWAY_HOST:GATEWAY_PORT (port 0 = any free port), and on
   * GATEWAY_INTERNAL_HOST:GATEWAY_INTERNAL_PORT when GATEWAY_INTERNAL_TOKEN is set; resolves with the
   * public base URL.
   */
  start(): Promise<string>;
  /** Base URL of the internal (Playground) listener once started; undefined when it is off. */
  readonly internalUrl: string | undefined;
  /**
   * Graceful: stops accepting, finishes in-flight calls (each answered one's event is already in the
   * journal), hands journalled events to Redis within a bound, releases the journal, closes pools.
   */
  stop(): Promise<void>;
  readonly http: HttpServer;
  readonly logger: Logger;
  readonly services: Services;
  /** The long-lived MCP instances (tests look at what their dispatch transports still hold). */
  readonly mcp: McpServers;
  /** Resolves once this instance hears access-change notifications (tests wait for it). */
  accessListenerReady(timeoutMs?: number): Promise<boolean>;
}

export function createGateway(env: GatewayEnv, options: { logger?: Logger; trustProxy?: number } = {}): Gateway {
  const logger = options.logger ?? createLogger(env.LOG_LEVEL);
  const metrics = createMetrics();
  // Bounded waits on the metadata database: a stuck lookup must fail the request, not hold it forever.
  const metadata = new pg.Pool({
    connectionString: env.DATABASE_URL,
    max: 10,
    application_name: "portcullis-gateway",
    connectionTimeoutMillis: 5_000,
    query_timeout: 10_000,
  });
  metadata.on("error", (error) => logger.warn({ err: error.message }, "idle metadata connection failed"));
  const redis = createRedis(env.REDIS_URL, "producer");
  redis.on("error", (error: Error) => logger.debug({ err: error.message }, "redis error"));
  const subscriber = createRedis(env.REDIS_URL, "subscriber");
  const keyring = getKeyring(env.PORTCULLIS_SECRET_KEYS);

  const targetPolicy = targetPolicyFromEnv({
    TARGET_NETWORKS: env.TARGET_NETWORKS || undefined,
    TARGET_ALLOW_ADDRESSES: env.TARGET_ALLOW_ADDRESSES,
    TARGET_STACK_DATABASES: env.TARGET_STACK_DATABASES,
    TARGET_ALLOW_POWERFUL_ROLES: env.TARGET_ALLOW_POWERFUL_ROLES,
    REDIS_URL: env.REDIS_URL,
  });
  const pools = new TargetPools(
    { max: env.GATEWAY_POOL_MAX, idleMs: env.GATEWAY_POOL_IDLE_MS, keyring, policy: targetPolicy, onCountChange: (n) => metrics.pools.set(n) },
    logger,
  );
  // Reloaded in the background from 3 minutes on, never served past 5 (see CatalogCache on why stale is bounded).
  const catalogs = new CatalogCache({
    ttlMs: 5 * 60_000,
    refreshAfterMs: 3 * 60_000,
    maxColumns: 2_000_000,
    onRefreshError: (connectionId, error) => logger.warn({ connectionId, err: (error as Error).message }, "catalog reload failed; serving the cached catalog"),
  });
  const audit = new AuditProducer(
    redis,
    metadata,
    { prefix: env.QUEUE_PREFIX, spoolDir: env.GATEWAY_AUDIT_SPOOL_DIR, flushMs: env.GATEWAY_AUDIT_FLUSH_MS, durability: env.GATEWAY_AUDIT_DURABILITY },
    logger,
    metrics,
  );
  const services: Services = {
    logger,
    metrics,
    pools,
    catalogs,
    checker: createPolicyChecker({ cacheSize: 10_000 }),
    descriptions: new DescriptionStore(metadata),
    audit,
    metadata,
    maskKeys: new MaskKeys(metadata, keyring),
    maxResultBytes: env.GATEWAY_MAX_RESULT_BYTES,
    schemaBudgetBytes: env.GATEWAY_SCHEMA_BUDGET_BYTES,
    poolFor: (link) => pools.get(link.connection),
    catalogFor: (link) => catalogs.get(link.connection.id, async () => loadCatalog(await pools.get(link.connection))),
    schemaChanged(link) {
      catalogs.invalidate(link.connection.id);
      const message: RevocationMessage = { kind: "connection", connectionId: link.connection.id };
      redis.publish(REVOCATION_CHANNEL, JSON.stringify(message)).catch(() => {
        // Other instances fall back on the catalog TTL.
      });
    },
  };

  const members = new MemberDirectory(metadata, env.GATEWAY_AUTH_CACHE_TTL_MS);
  const authenticator = new Authenticator(
    [new ApiKeyStrategy(metadata, env.GATEWAY_AUTH_CACHE_TTL_MS, members), new OAuthTokenStrategy(metadata, env.GATEWAY_AUTH_CACHE_TTL_MS, members)],
    members,
  );
  const links = new LinkStore(metadata, env.GATEWAY_AUTH_CACHE_TTL_MS, logger);
  const endedSessions = new EndedSessions((sessionHash) => {
    const message: RevocationMessage = { kind: "session_ended", sessionHash };
    redis.publish(REVOCATION_CHANNEL, JSON.stringify(message)).catch(() => {
      // Other instances keep serving the ended session id: its client asked to end it, nothing is exposed.
    });
  });
  const unsubscribe = subscribeToRevocations(
    subscriber,
    {
      apply(message) {
        switch (message.kind) {
          case "api_key":
            authenticator.invalidate({ apiKeyId: message.apiKeyId, hash: message.hash });
            break;
          case "oauth_grant":
            authenticator.invalidate({ grantId: message.grantId });
            break;
          case "link":
            links.invalidateLink(message.linkId);
            authenticator.invalidate({ linkId: message.linkId });
            break;
          case "connection":
            // Pools are not closed here: a changed connection row yields a new pool (its fingerprint
            // changes once the link cache reloads it), and idle pools of deleted connections are swept.
            links.invalidateConnection(message.connectionId);
            catalogs.invalidate(message.connectionId);
            services.descriptions.invalidate(message.connectionId);
            break;
          case "session_ended":
            endedSessions.apply(message.sessionHash);
            break;
        }
      },
      clearAll() {
        authenticator.clear();
        links.clear();
      },
    },
    logger,
  );

  const caches: AccessCaches = { authenticator, links, catalogs, descriptions: services.descriptions, clearAll: () => clearCaches() };
  function clearCaches() {
    authenticator.clear();
    links.clear();
  }
  const accessListener = listenForAccessChanges(env.DATABASE_URL, { apply: (change) => applyAccessChange(change, caches), clearAll: clearCaches }, logger);

  const preAuth = new PreAuthLimits(redis, {
    ipRequestsPerMinute: env.GATEWAY_IP_RATE_LIMIT_PER_MINUTE,
    authFailuresPerIpPerMinute: env.GATEWAY_AUTH_FAILURES_PER_IP_PER_MINUTE,
    authFailuresPerLinkPerMinute: env.GATEWAY_AUTH_FAILURES_PER_LINK_PER_MINUTE,
  });
  const refusals = new RefusalCoalescer(
    (linkId, event) => {
      // Cached links only: a refusal must not cost a metadata query (the failed authentication that
      // preceded it has already loaded the link if it exists). Unknown links have no team to file under.
      const link = links.peek(linkId);
      if (link) audit.record({ ...event, teamId: link.teamId, linkId: link.id });
    },
    () => metrics.refused.inc({ reason: "refusal_audit_overflow" }),
  );

  const mcp = createMcpServers(services);
  let draining = false;
  let lastDbCheck = { at: 0, ok: false };
  let dbCheckInFlight: Promise<void> | undefined;
  const deps: HttpDeps = {
    endedSessions,
    services,
    authenticator,
    links,
    rateLimiter: new RateLimiter(redis, env.GATEWAY_RATE_LIMIT_PER_MINUTE),
    preAuth,
    refusals,
    lastUsed: new LastUsedRecorder(redis),
    mcp,
    confirmations: new ConfirmationBroker(keyring, redis, subscriber, logger),
    hostOrigin: new HostOriginPolicy({
      publicUrl: env.GATEWAY_PUBLIC_URL,
      webUrl: env.WEB_PUBLIC_URL,
      allowedHosts: env.GATEWAY_ALLOWED_HOSTS,
      allowedOrigins: env.GATEWAY_ALLOWED_ORIGINS,
    }),
    publicUrl: env.GATEWAY_PUBLIC_URL.replace(/\/$/, ""),
    webUrl: env.WEB_PUBLIC_URL.replace(/\/$/, ""),
    maxBodyBytes: env.GATEWAY_MAX_BODY_BYTES,
    internalToken: env.GATEWAY_INTERNAL_TOKEN,
    trustProxy: options.trustProxy ?? env.TRUST_PROXY,
    metadata,
    async isReady() {
      // /readyz is public: however many probes arrive at once, one `SELECT 1` a second at most, so a
      // flood cannot take the metadata pool's connections from authentication.
      if (Date.now() - lastDbCheck.at > 1_000) {
        dbCheckInFlight ??= metadata
          .query("SELECT 1")
          .then(
            () => true,
            () => false,
          )
          .then((ok) => {
            lastDbCheck = { at: Date.now(), ok };
          })
          .finally(() => {
            dbCheckInFlight = undefined;
          });
        await dbCheckInFlight;
      }
      // Redis down is degraded, not unready: audit waits in the journal and auth works from PostgreSQL.
      const listening = accessListener.listening();
      const backlog = audit.backlog();
      const journalFailure = audit.journalFailure();
      const checks = {
        metadata: lastDbCheck.ok ? "ok" : "unreachable",
        accessChanges: listening ? "ok" : "reconnecting (caches cleared every second)",
        redis: redis.status === "ready" ? "ok" : "degraded (audit events wait in the journal)",
        auditBacklog: `${backlog.pending} events not yet stored, oldest ${(backlog.oldestAgeMs / 1000).toFixed(1)} s`,
        // Tool calls fail (retryably) while the journal cannot write: send them elsewhere.
        auditJournal: journalFailure ? "failing (the cause is in the gateway's log)" : "ok",
        draining: draining ? "yes" : "no",
      };
      return { ready: lastDbCheck.ok && listening && !draining && !journalFailure, checks };
    },
  };

  const router = createRouter(deps);
  let active = 0;
  let idleResolve: (() => void) | undefined;
  const http = createServer({ requestTimeout: 120_000, headersTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => {
    active++;
    if (draining) res.setHeader("connection", "close");
    void router(req, res).finally(() => {
      active--;
      if (active === 0) idleResolve?.();
    });
  });

  const internalRouter = createInternalRouter(deps);
  const internalHttp = env.GATEWAY_INTERNAL_TOKEN
    ? createServer({ requestTimeout: 120_000, headersTimeout: 30_000 }, (req, res) => {
        active++;
        void internalRouter(req, res).finally(() => {
          active--;
          if (active === 0) idleResolve?.();
        });
      })
    : undefined;
  let internalUrl: string | undefined;

  const listen = (server: HttpServer, port: number, host: string, what: string) =>
    new Promise<string>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        const address = server.address() as AddressInfo;
        const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
        logger.info({ port: address.port, host: address.address }, `${what} listening`);
        resolve(`http://${shown === "0.0.0.0" || shown === "[::]" ? "127.0.0.1" : shown}:${address.port}`);
      });
    });

  let stopped: Promise<void> | undefined;
  return {
    http,
    get internalUrl() {
      return internalUrl;
    },
    logger,
    services,
    mcp,
    accessListenerReady: (timeoutMs) => accessListener.ready(timeoutMs),
    async start() {
      // Before listening: a gateway that cannot journal audit events must not answer calls.
      await audit.start();
      await mcp.ready;
      const url = await listen(http, env.GATEWAY_PORT, env.GATEWAY_HOST, "gateway");
      if (internalHttp) internalUrl = await listen(internalHttp, env.GATEWAY_INTERNAL_PORT, env.GATEWAY_INTERNAL_HOST, "internal (playground) endpoint");
      return url;
    },
    stop() {
      stopped ??= (async () => {
        draining = true;
        logger.info({ inFlight: active }, "draining");
        const closed = Promise.all(
          [http, internalHttp].map((server) => (server?.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve())),
        );
        http.closeIdleConnections();
        internalHttp?.closeIdleConnections();
        if (active > 0) {
          await Promise.race([
            new Promise<void>((resolve) => (idleResolve = resolve)),
            new Promise((resolve) => setTimeout(resolve, env.GATEWAY_SHUTDOWN_GRACE_MS).unref()),
          ]);
        }
        http.closeAllConnections();
        internalHttp?.closeAllConnections();
        // Closing a call's connection cancels its statement: give those calls a moment to finish and
        // journal their outcome before the journal closes (else only their intent would be on record).
        if (active > 0) {
          await Promise.race([
            new Promise<void>((resolve) => (idleResolve = resolve)),
            new Promise((resolve) => setTimeout(resolve, SETTLE_AFTER_GRACE_MS).unref()),
          ]);
        }
        await closed;
        refusals.close();
        preAuth.close();
        await audit.close();
        await Promise.all([pools.closeAll(), metadata.end().catch(() => {}), unsubscribe(), accessListener.close()]);
        await redis.quit().catch(() => redis.disconnect());
        logger.info("stopped");
      })();
      return stopped;
    },
  };
}
