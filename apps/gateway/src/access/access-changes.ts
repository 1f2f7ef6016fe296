import pg from "pg";
import { z } from "zod";
import type { Logger } from "../logger.js";

/** The channel the metadata triggers (migration 20261206100000_access_change_notify) notify on commit. */
export const ACCESS_CHANNEL = "portcullis_access";

const id = z.string().uuid().nullable().optional();
export const accessChangeSchema = z.object({
  table: z.enum(["memberships", "link_access", "teams", "links", "connections", "api_keys", "oauth_grants", "oauth_tokens", "link_member_attributes", "access_grants", "link_databases", "link_tools", "connection_ssh_hops", "connection_replicas"]),
  id,
  team: id,
  link: id,
  user: id,
  grant: id,
  connection: id,
});
export type AccessChange = z.infer<typeof accessChangeSchema>;

export interface AccessChangeHandlers {
  apply(change: AccessChange): void;
  /** Changes may have been missed: drop every cached key, token and link. */
  clearAll(): void;
}

export interface AccessListener {
  /** Whether notifications are being heard right now. */
  listening(): boolean;
  /** Resolves once the first LISTEN is in place (or after `timeoutMs`; it keeps trying). */
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

const MIN_BACKOFF_MS = 100;
// The reconnect loop clears every cache on each attempt, so while the listener is down nothing stays
// cached longer than this: an access change still reaches this instance within about a second.
const MAX_BACKOFF_MS = 1_000;
/**
 * A connection can die without the socket noticing (a dropped NAT entry, a partition): then no
 * notification arrives and no error either. A query every HEARTBEAT_MS, given HEARTBEAT_TIMEOUT_MS to
 * answer, turns that into a loss (caches cleared, reconnect) within a few seconds.
 */
const HEARTBEAT_MS = 2_000;
const HEARTBEAT_TIMEOUT_MS = 2_000;

/**
 * One LISTEN connection to the metadata database per gateway. PostgreSQL delivers a notification only
 * after its transaction commits, so whoever changed access (dashboard, CLI, plain SQL) reaches every
 * instance without publishing anything. A lost connection may have lost notifications: the caches are
 * cleared when it drops and again at every reconnect attempt, with backoff capped at one second.
 */
export function listenForAccessChanges(databaseUrl: string, handlers: AccessChangeHandlers, logger: Logger): AccessListener {
  let closed = false;
  let client: pg.Client | undefined;
  let backoff = MIN_BACKOFF_MS;
  let timer: NodeJS.Timeout | undefined;
  let connected = false;
  const waiters: (() => void)[] = [];
  const heartbeat = setInterval(() => {
    const current = client;
    if (!connected || !current) return;
    current.query("SELECT 1").catch((error: Error) => {
      if (client === current) lost(`heartbeat failed: ${error.message}`);
    });
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const onNotification = (message: pg.Notification) => {
    if (message.channel !== ACCESS_CHANNEL || !message.payload) return;
    let change: AccessChange;
    try {
      change = accessChangeSchema.parse(JSON.parse(message.payload));
    } catch {
      // Not ours to interpret: the safe reading of an unknown change is "anything may have changed".
      logger.warn("unrecognised access change notification; clearing caches");
      handlers.clearAll();
      return;
    }
    handlers.apply(change);
  };

  const lost = (reason: string) => {
    if (client === undefined) return;
    const old = client;
    client = undefined;
    connected = false;
    old.removeAllListeners();
    old.on("error", () => {});
    old.end().catch(() => {});
    handlers.clearAll();
    if (closed) return;
    logger.warn({ reason, retryMs: backoff }, "access-change listener lost; caches cleared, reconnecting");
    schedule();
  };

  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, backoff);
    timer.unref();
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  };

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({
      connectionString: databaseUrl,
      application_name: "portcullis-gateway-listen",
      connectionTimeoutMillis: 5_000,
      query_timeout: HEARTBEAT_TIMEOUT_MS,
      keepAlive: true,
    });
    client = next;
    next.on("error", (error: Error) => lost(error.message));
    next.on("end", () => lost("connection ended"));
    next.on("notification", onNotification);
    try {
      await next.connect();
      await next.query(`LISTEN ${ACCESS_CHANNEL}`);
    } catch (error) {
      // Every attempt clears again (lost() does too): nothing learned while disconnected may be trusted.
      if (client === next) lost((error as Error).message);
      else {
        next.end().catch(() => {});
        handlers.clearAll();
      }
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    // Whatever changed between the loss and now was not heard.
    handlers.clearAll();
    connected = true;
    backoff = MIN_BACKOFF_MS;
    for (const resolve of waiters.splice(0)) resolve();
  };

  void connect();

  return {
    listening: () => connected,
    ready(timeoutMs = 5_000) {
      if (connected) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve(connected), timeoutMs);
        t.unref();
        waiters.push(() => {
          clearTimeout(t);
          resolve(true);
        });
      });
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      if (timer) clearTimeout(timer);
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners();
        current.on("error", () => {});
        await current.end().catch(() => {});
      }
    },
  };
}
