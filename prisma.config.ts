import { defineConfig } from "prisma/config";

// `prisma generate` needs no database. Migrations are applied by packages/db's runner
// (`pnpm db:migrate`), which keeps Prisma's `_prisma_migrations` format so `prisma migrate deploy`
// also works where the schema-engine binary can be downloaded.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost/portcullis" },
});
