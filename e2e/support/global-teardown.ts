import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";


/** Stops exactly the process groups global setup started, then drops the run's databases. */
export default async function globalTeardown(): Promise<void> {
  // Global setup and teardown run in the same process: the state file is this run's own.
  const stateFile = process.env.E2E_STATE_FILE;
  if (!stateFile) return;
  const state = JSON.parse(readFileSync(stateFile, "utf8")) as {
    pids: Record<string, number>;
    databases: string[];
    webDir: string;
    distDir: string;
    ownsLock: boolean;
  };
  for (const pid of Object.values(state.pids)) {
    try {
      process.kill(-pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  await new Promise((r) => setTimeout(r, 1500));
  for (const pid of Object.values(state.pids)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  if (state.ownsLock) rmSync(path.join(state.webDir, ".next-e2e.lock"), { recursive: true, force: true });
  else rmSync(path.join(state.webDir, state.distDir), { recursive: true, force: true });
  if (process.env.E2E_KEEP_DATABASES === "1" || !process.env.TEST_PG_URL) return;
  const url = new URL(process.env.TEST_PG_URL);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    for (const name of state.databases) await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
