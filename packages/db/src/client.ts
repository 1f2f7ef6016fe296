import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client.js";
import { getDbEnv } from "./env.js";

export { PrismaClient };
export * from "./generated/prisma/client.js";

/** Builds a client on the pg driver adapter: Prisma 7 runs without engine binaries this way. */
export function createPrismaClient(databaseUrl: string = getDbEnv().DATABASE_URL): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
}

const globalForPrisma = globalThis as unknown as { portcullisPrisma?: PrismaClient };

/** One client per process (Next.js dev reloads modules, so the singleton lives on globalThis). */
export function getPrisma(): PrismaClient {
  globalForPrisma.portcullisPrisma ??= createPrismaClient();
  return globalForPrisma.portcullisPrisma;
}
