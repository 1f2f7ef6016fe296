import type pg from "pg";
import { getKeyring, type SecretKeyring } from "./secrets/index.js";
import { openSshRoute } from "./ssh/route.js";
import { resolveTargetClientConfig, targetPolicyFromEnv, type Resolver, type TargetConnectionRow, type TargetPolicy } from "./target.js";

export interface TargetRoute {
  /** pg client/pool options: through the tunnel when there is one, TLS per the row, password opened. */
  config: pg.ClientConfig;
  /** Closes the tunnel (and its SSH sessions). Idempotent. */
  close(): Promise<void>;
  /** "direct" or "ssh", for logs and the connection test. */
  kind: "direct" | "ssh";
}

export interface TargetRouteOptions {
  policy?: TargetPolicy;
  keyring?: SecretKeyring;
  resolve?: Resolver;
}

/**
 * The one way every process opens sessions to a stored connection (gateway pools, worker
 * introspection, dashboard and CLI catalog reads, the connection test). Direct: the database's address
 * is checked against the operator's target policy and sessions are pinned to it. SSH: the first hop's
 * address is checked and pinned instead, and sessions travel through the hop chain (see ssh/route.ts).
 * The caller closes the route when done with every session it served.
 */
export async function openTargetRoute(row: TargetConnectionRow, options: TargetRouteOptions = {}): Promise<TargetRoute> {
  const policy = options.policy ?? targetPolicyFromEnv();
  const keyring = options.keyring ?? getKeyring();
  if (row.sshHops && row.sshHops.length > 0) return openSshRoute(row, { policy, keyring, resolve: options.resolve });
  const config = await resolveTargetClientConfig(row, policy, keyring, options.resolve);
  return { kind: "direct", config, close: async () => {} };
}

/** Opens a route, runs `fn`, and closes the route whatever happens. */
export async function withTargetRoute<T>(row: TargetConnectionRow, options: TargetRouteOptions, fn: (route: TargetRoute) => Promise<T>): Promise<T> {
  const route = await openTargetRoute(row, options);
  try {
    return await fn(route);
  } finally {
    await route.close();
  }
}
