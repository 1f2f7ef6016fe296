import type pg from "pg";

export interface CheckedOut {
  client: pg.PoolClient;
  /** Back to the pool; `destroy` (or a connection that failed meanwhile) closes it instead. Idempotent. */
  release(destroy?: boolean): void;
}

/**
 * A pooled client, listened to while it is checked out. pg-pool handles a client's 'error' only while
 * it is idle: a connection that dies between two queries of a transaction (PostgreSQL killed or
 * restarted, a network cut) would otherwise emit an unhandled 'error' and end the process (seen: the
 * worker died when the metadata PostgreSQL was SIGKILLed under load). The failure still reaches the
 * caller through its next query; a client that failed is destroyed, not returned to the pool.
 */
export async function checkOut(pool: pg.Pool): Promise<CheckedOut> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost ??= error;
  };
  client.on("error", onError);
  let released = false;
  return {
    client,
    release(destroy = false) {
      if (released) return;
      released = true;
      client.removeListener("error", onError);
      client.release(destroy || lost || undefined);
    },
  };
}
