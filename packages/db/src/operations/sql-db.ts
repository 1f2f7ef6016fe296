import { z } from "zod";
import type { PrismaClient } from "../client.js";
import { PortcullisError } from "../errors.js";

/**
 * The issue-15 operations are written once in SQL and run from both sides of the product: the gateway
 * holds a pg.Pool on the metadata database (no Prisma on its hot path), the dashboard and the CLI a
 * PrismaClient. Every statement casts its parameters and result columns explicitly, so both drivers
 * bind and decode them the same way (uuid/text, timestamptz → Date, jsonb → value, ::int counts).
 */
export interface SqlQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface SqlPool extends SqlQueryable {
  connect(): Promise<SqlQueryable & { release(error?: Error | boolean): void }>;
}

export type OperationsDb = SqlPool | PrismaClient;

/** One statement's rows, typed by the caller's row shape. */
export type Query = <R = Record<string, unknown>>(text: string, values?: unknown[]) => Promise<R[]>;

function isPrisma(db: OperationsDb): db is PrismaClient {
  return typeof (db as PrismaClient).$transaction === "function";
}

type RawClient = { $queryRawUnsafe<T>(query: string, ...values: unknown[]): Promise<T> };

function prismaQuery(client: RawClient): Query {
  return async <R>(text: string, values: unknown[] = []) => client.$queryRawUnsafe<R[]>(text, ...values);
}

function pgQuery(client: SqlQueryable): Query {
  return async <R>(text: string, values: unknown[] = []) => (await client.query(text, values)).rows as R[];
}

/** A single statement outside a transaction. */
export function queryOf(db: OperationsDb): Query {
  return isPrisma(db) ? prismaQuery(db as unknown as RawClient) : pgQuery(db);
}

/** Runs `fn` in one READ COMMITTED transaction; rolled back when it throws. */
export async function inTransaction<T>(db: OperationsDb, fn: (q: Query) => Promise<T>): Promise<T> {
  if (isPrisma(db)) return db.$transaction(async (tx) => fn(prismaQuery(tx as unknown as RawClient)), { timeout: 15_000, maxWait: 10_000 });
  const client = await db.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const result = await fn(pgQuery(client));
    await client.query("COMMIT");
    return result;
  } catch (error) {
    try {
      await client.query("ROLLBACK");
    } catch {
      // A connection that cannot roll back is not put back in the pool.
      broken = true;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

/** zod at the boundary: a typed invalid_input error whose message names each field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("; ");
  throw new PortcullisError("invalid_input", message);
}

/** JSON for a jsonb parameter: NUL cannot be stored in jsonb text, so it is replaced (never fails a write). */
export function jsonParam(value: unknown): string {
  return JSON.stringify(value ?? null).replaceAll("\\u0000", "\\ufffd");
}

export const uuidSchema = z.string().uuid();
/** Canonical "schema.table" (TABLE_KEY_PATTERN of @portcullis/policy/scope, with the schema required). */
export const tableKeySchema = z
  .string()
  .max(200)
  .regex(/^[^.\s"]+\.[^.\s"]+$/, 'a table is named "schema.table" (no quotes, no spaces)');
export const commentSchema = z.string().max(2000, "a comment is at most 2,000 characters");

export const toDate = (v: unknown): Date | null => (v == null ? null : v instanceof Date ? v : new Date(String(v)));
export const toIso = (v: unknown): string | null => toDate(v)?.toISOString() ?? null;
