import { getDbEnv } from "../env.js";
import { ensureDatabase, migrate } from "./index.js";

const { DATABASE_URL } = getDbEnv({ ...process.env, PORTCULLIS_SECRET_KEYS: process.env.PORTCULLIS_SECRET_KEYS ?? "-" });
try {
  if (await ensureDatabase(DATABASE_URL)) console.log("created the metadata database");
  const result = await migrate(DATABASE_URL, { log: (line) => console.log(line) });
  console.log(`migrations: ${result.applied.length} applied, ${result.alreadyApplied.length} already up to date`);
} catch (error) {
  console.error(`migration failed: ${(error as Error).message}`);
  process.exit(1);
}
