import { z } from "zod";
import { bootstrapAppRole } from "./bootstrap.js";

// Run by scripts/up.sh with a superuser connection to the project-local cluster, before migrating.
const env = z
  .object({
    PG_SUPERUSER_URL: z.string().url(),
    APP_DB_NAME: z.string().default("portcullis"),
    APP_DB_ROLE: z.string().default("portcullis_app"),
    METADATA_DB_PASSWORD: z.string().min(16, "METADATA_DB_PASSWORD must be at least 16 characters"),
  })
  // eslint-disable-next-line no-restricted-properties -- a one-shot script run by up.sh, not an app
  .parse(process.env);
try {
  const result = await bootstrapAppRole({
    superuserUrl: env.PG_SUPERUSER_URL,
    database: env.APP_DB_NAME,
    role: env.APP_DB_ROLE,
    password: env.METADATA_DB_PASSWORD,
    dropSuperuserPassword: true,
  });
  if (result.createdRole) console.log(`created the application role ${env.APP_DB_ROLE}`);
  if (result.reassigned > 0 && !result.createdDatabase) console.log(`upgraded: ${result.reassigned} objects now owned by ${env.APP_DB_ROLE} (was the superuser)`);
} catch (error) {
  console.error(`database bootstrap failed: ${(error as Error).message}`);
  process.exit(1);
}
