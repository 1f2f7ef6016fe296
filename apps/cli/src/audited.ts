import { type ConfigChange, recordConfigChange } from "@portcullis/db/audit";
import type { PrismaClient } from "@portcullis/db/client";
import { db } from "./context.js";

/**
 * Runs a CLI change and its audit records in one transaction: the change and its records in the
 * team's chain commit together or not at all (recordConfigChange writes the outbox the worker drains).
 * The shared operations take a client; inside the transaction they get the transaction's.
 * Notifications to gateways (revocations) go out after the commit, by the caller.
 */
export async function audited<T>(change: (tx: PrismaClient) => Promise<T>, records: (result: T, tx: PrismaClient) => Promise<ConfigChange[]> | ConfigChange[]): Promise<T> {
  return db().$transaction(async (tx) => {
    const client = tx as unknown as PrismaClient;
    const result = await change(client);
    for (const record of await records(result, client)) await recordConfigChange(tx, { via: "cli", ...record });
    return result;
  });
}
