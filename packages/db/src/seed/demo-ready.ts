import { pathToFileURL } from "node:url";
import pg from "pg";
import { z } from "zod";
import { undescribedTables } from "./queue-demo.js";

/**
 * `node --import tsx packages/db/src/seed/demo-ready.ts`: waits until the demo connection has its
 * schema snapshot and a description for every table of it (the worker's jobs, queued by the seed),
 * so that up.sh says "ready" only when the first get_schema through a printed config carries them.
 * Prints a short line whenever progress changes; exits 0 when ready, 1 with what is missing on timeout.
 */
const envSchema = z.object({
  DATABASE_URL: z.string({ error: "DATABASE_URL is not set" }).url({ error: "DATABASE_URL must be a postgresql:// URL" }),
  DEMO_READY_TIMEOUT_MS: z.coerce.number().int().positive().default(180_000),
  DEMO_TEAM_SLUG: z.string().min(1).default("demo"),
});

const POLL_MS = 500;

export interface DemoState {
  connectionId: string | null;
  /** Tables of the latest snapshot; null while there is no snapshot. */
  tables: number | null;
  /** Tables without a description ("schema.table"). */
  missing: string[];
}

export async function demoState(client: pg.Client, teamSlug = "demo"): Promise<DemoState> {
  const { rows } = await client.query<{ id: string }>(
    `SELECT c.id FROM connections c JOIN teams t ON t.id = c.team_id WHERE t.slug = $1 AND c.name = 'Chinook'`,
    [teamSlug],
  );
  const connectionId = rows[0]?.id ?? null;
  if (!connectionId) return { connectionId, tables: null, missing: [] };
  const missing = await undescribedTables(client, connectionId);
  if (missing === null) return { connectionId, tables: null, missing: [] };
  const count = await client.query<{ n: number }>(
    `SELECT jsonb_array_length(snapshot->'tables') AS n FROM schema_snapshots WHERE connection_id = $1 ORDER BY taken_at DESC, id DESC LIMIT 1`,
    [connectionId],
  );
  return { connectionId, tables: Number(count.rows[0]?.n ?? 0), missing };
}

function progressLine(state: DemoState): string {
  if (!state.connectionId) return "waiting for the demo connection (has the seed run?)";
  if (state.tables === null) return "waiting for the demo's schema snapshot (worker: introspection job)";
  return `describing the demo schema: ${state.tables - state.missing.length}/${state.tables} tables`;
}

const isReady = (state: DemoState) => state.connectionId !== null && state.tables !== null && state.tables > 0 && state.missing.length === 0;

export async function waitForDemo(
  databaseUrl: string,
  options: { timeoutMs: number; teamSlug?: string; log?: (line: string) => void },
): Promise<{ ready: boolean; state: DemoState; ms: number }> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "portcullis-demo-ready" });
  await client.connect();
  try {
    let last = "";
    for (;;) {
      const state = await demoState(client, options.teamSlug);
      const ms = Date.now() - started;
      if (isReady(state)) {
        log(`demo ready: schema snapshot and descriptions for ${state.tables} tables (${(ms / 1000).toFixed(1)} s)`);
        return { ready: true, state, ms };
      }
      const line = progressLine(state);
      if (line !== last) log(line);
      last = line;
      if (ms >= options.timeoutMs) return { ready: false, state, ms };
      await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(0, options.timeoutMs - ms))));
    }
  } finally {
    await client.end().catch(() => {});
  }
}

function missingText(state: DemoState): string {
  if (!state.connectionId) return "the demo connection does not exist (the seed did not run)";
  if (state.tables === null) return "no schema snapshot of the demo connection (is the worker running? .data/logs/worker.log)";
  const shown = state.missing.slice(0, 8).join(", ");
  return `no description yet for ${state.missing.length} of ${state.tables} tables: ${shown}${state.missing.length > 8 ? ", …" : ""} (.data/logs/worker.log)`;
}

async function main(): Promise<void> {
  const parsed = envSchema.safeParse(process.env);
  if (!parsed.success) {
    console.error(`demo-ready: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    process.exit(2);
  }
  const env = parsed.data;
  const result = await waitForDemo(env.DATABASE_URL, { timeoutMs: env.DEMO_READY_TIMEOUT_MS, teamSlug: env.DEMO_TEAM_SLUG, log: (line) => console.log(`▸ ${line}`) });
  if (!result.ready) {
    console.error(`✗ the demo is not ready after ${Math.round(result.ms / 1000)} s: ${missingText(result.state)}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error: unknown) => {
    console.error(`demo-ready: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
