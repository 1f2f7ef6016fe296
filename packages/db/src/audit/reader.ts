import pg from "pg";
import type { PrismaClient } from "../generated/prisma/client.js";
import { checkOut } from "./checkout.js";

/** What the audit functions accept: the Prisma client (as the CLI and dashboard hold it) or pg. */
export type AuditDatabase = PrismaClient | pg.Pool | pg.Client | string;

export type RunQuery = <T>(sql: string, params: unknown[]) => Promise<T[]>;

const isPrisma = (db: AuditDatabase): db is PrismaClient => typeof db === "object" && "$transaction" in db;

/**
 * Runs `fn` in one REPEATABLE READ, READ ONLY transaction, so that everything it reads is one
 * consistent snapshot: a verification racing ingestion or retention sees a chain as of one instant,
 * not half of a batch or half of a pruned chunk.
 */
export async function withSnapshot<T>(db: AuditDatabase, fn: (query: RunQuery) => Promise<T>): Promise<T> {
  if (isPrisma(db)) {
    return db.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe("SET TRANSACTION READ ONLY");
        return fn(<R>(sql: string, params: unknown[]) => tx.$queryRawUnsafe<R[]>(sql, ...params));
      },
      // A long chain takes a while to read; Prisma's 5 s default would abort it.
      { isolationLevel: "RepeatableRead", timeout: 60 * 60_000, maxWait: 30_000 },
    );
  }
  let client: pg.Client | pg.PoolClient;
  let done: () => Promise<void>;
  if (typeof db === "string") {
    const c = new pg.Client({ connectionString: db });
    // A connection lost mid-read fails the next query; unlistened, its 'error' would end the process.
    c.on("error", () => {});
    await c.connect();
    client = c;
    done = () => c.end();
  } else if (db instanceof pg.Pool) {
    const c = await checkOut(db);
    client = c.client;
    done = async () => c.release();
  } else {
    client = db;
    done = async () => {};
  }
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const result = await fn(async <R>(sql: string, params: unknown[]) => (await client.query(sql, params)).rows as R[]);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await done();
  }
}
