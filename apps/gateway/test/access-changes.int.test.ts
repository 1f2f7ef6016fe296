import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApiKey } from "./operations.js";
import { spawnGateway, type ChildGateway } from "./child-gateway.js";
import { GatewayWorld, rawPost, type LinkFixture } from "./fixtures.js";

/**
 * Every access change reaches every gateway within one second, whoever makes it: the changes here are
 * plain SQL on the metadata database (nothing is published on Redis), the two gateways are separate
 * processes with a ten-minute cache TTL, and each is under steady calls when the change commits.
 */
let world: GatewayWorld;
let gateways: ChildGateway[];
let sql: pg.Client;
const latencies: Record<string, number[]> = {};
const served: Record<string, number[]> = {};

beforeAll(async () => {
  world = await GatewayWorld.create();
  // The per-key rate limit out of the way: a 429 must never pass for the refusal under test.
  const env = world.env({ GATEWAY_AUTH_CACHE_TTL_MS: "600000", GATEWAY_RATE_LIMIT_PER_MINUTE: "100000000" });
  gateways = await Promise.all([spawnGateway(env), spawnGateway(env)]);
  for (const g of gateways) {
    for (let i = 0; ; i++) {
      if ((await fetch(`${g.url}/readyz`)).ok) break;
      if (i > 100) throw new Error("gateway not ready (access-change listener)");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  sql = new pg.Client({ connectionString: world.meta.url });
  await sql.connect();
}, 60_000);
afterAll(async () => {
  console.log(`access change -> first refused call, per change (instance A, B), ms: ${JSON.stringify(latencies)}`);
  console.log(`calls sent after the change committed and still served (instance A, B): ${JSON.stringify(served)}`);
  await sql?.end();
  await Promise.all((gateways ?? []).map((g) => g.stop()));
  await world?.close();
});

const QUERY = "SELECT name FROM genre ORDER BY genre_id LIMIT 1";
const call = (text = QUERY) => ({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql: text } } });

interface Stream {
  /** Resolves with the time of the first refused call (HTTP refusal or a refused statement). */
  refused: Promise<number>;
  /** Calls answered with rows that were sent after `since`. */
  servedAfter(since: number): number;
  warm: Promise<void>;
  stop(): void;
}

/** Calls one gateway back to back, as a busy client would. */
function steadyCalls(base: string, linkId: string, token: string): Stream {
  let stopped = false;
  const servedAt: number[] = [];
  let warmResolve!: () => void;
  const warm = new Promise<void>((r) => (warmResolve = r));
  const refused = (async () => {
    const deadline = Date.now() + 30_000;
    while (!stopped && Date.now() < deadline) {
      const sentAt = Date.now();
      const r = await rawPost(`${base}/mcp/${linkId}`, call(), { authorization: `Bearer ${token}` });
      const ok = r.status === 200 && r.json?.result && !r.json.result.isError;
      // Only the refusals an access change causes count: 401 (credentials or link gone) or a refused
      // statement. Anything else (429, 5xx) is a failure of the test, not a refusal.
      if (!ok && r.status !== 401 && !(r.status === 200 && r.json?.result?.isError)) throw new Error(`unexpected answer ${r.status}: ${JSON.stringify(r.json).slice(0, 200)}`);
      if (!ok) return Date.now();
      servedAt.push(sentAt);
      if (servedAt.length === 3) warmResolve();
    }
    throw new Error("calls were never refused");
  })();
  return { refused, warm, servedAfter: (since) => servedAt.filter((t) => t > since).length, stop: () => (stopped = true) };
}

async function member(role: "member" | "admin" | "viewer", link: { linkId: string; teamId: string }, withAccess = true) {
  const { rows } = await sql.query("INSERT INTO users (id, email) VALUES (gen_random_uuid(), $1) RETURNING id", [`m-${randomBytes(4).toString("hex")}@example.com`]);
  const userId = rows[0].id as string;
  await sql.query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, $3)", [link.teamId, userId, role]);
  if (withAccess) await sql.query("INSERT INTO link_access (link_id, user_id) VALUES ($1, $2)", [link.linkId, userId]);
  const { key, record } = await createApiKey(world.prisma, { teamId: link.teamId, linkId: link.linkId, userId, name: "member key" });
  return { userId, key, apiKeyId: record.id };
}

async function oauthToken(link: { linkId: string; teamId: string }, userId: string) {
  const token = `pca_${randomBytes(32).toString("base64url")}`;
  const client = await world.prisma.oAuthClient.create({
    data: { clientId: `https://client-${randomBytes(3).toString("hex")}.example/metadata.json`, kind: "metadata_document", name: "Example", redirectUris: [], metadata: {} },
  });
  const grant = await world.prisma.oAuthGrant.create({ data: { teamId: link.teamId, clientId: client.id, userId, linkId: link.linkId } });
  await world.prisma.oAuthToken.create({
    data: { grantId: grant.id, kind: "access", tokenHash: createHash("sha256").update(token).digest("hex"), expiresAt: new Date(Date.now() + 600_000) },
  });
  return { token, grantId: grant.id };
}

/** Starts steady calls on both instances, makes the change, and measures until each refuses. */
async function measure(name: string, linkId: string, token: string, change: () => Promise<unknown>, boundMs = 1000): Promise<void> {
  const streams = gateways.map((g) => steadyCalls(g.url, linkId, token));
  try {
    await Promise.all(streams.map((s) => s.warm));
    const started = Date.now();
    await change();
    const committed = Date.now();
    const refusedAt = await Promise.all(streams.map((s) => s.refused));
    const ms = refusedAt.map((t) => t - started);
    latencies[name] = ms;
    expect(Math.max(...ms), `${name}: first refused call after ${ms.join(" / ")} ms`).toBeLessThan(boundMs);
    // Calls sent after the commit returned and still served (reported; the bound is the latency above).
    served[name] = streams.map((s) => s.servedAfter(committed));
  } finally {
    for (const s of streams) s.stop();
  }
}

describe("two gateway processes under steady calls; the change is plain SQL", () => {
  test("member removed", async () => {
    const link = await world.addLink({ access: "read" });
    const m = await member("member", link);
    await measure("member removed", link.linkId, m.key, () => sql.query("DELETE FROM memberships WHERE team_id = $1 AND user_id = $2", [link.teamId, m.userId]));
  });

  test("admin demoted to viewer", async () => {
    const link = await world.addLink({ access: "read" });
    const m = await member("admin", link, false);
    await measure("demoted to viewer", link.linkId, m.key, () =>
      sql.query("UPDATE memberships SET role = 'viewer' WHERE team_id = $1 AND user_id = $2", [link.teamId, m.userId]),
    );
  });

  test("member losing link access", async () => {
    const link = await world.addLink({ access: "read" });
    const m = await member("member", link);
    await measure("link access removed", link.linkId, m.key, () => sql.query("DELETE FROM link_access WHERE link_id = $1 AND user_id = $2", [link.linkId, m.userId]));
  });

  test("team deleted", async () => {
    const team = await world.addTeam();
    const link: LinkFixture = await world.addLink({ access: "read" }, team);
    await measure("team deleted", link.linkId, link.key, () => sql.query("DELETE FROM teams WHERE id = $1", [team.teamId]));
  });

  test("link disabled", async () => {
    const link = await world.addLink({ access: "read" });
    await measure("link disabled", link.linkId, link.key, () => sql.query("UPDATE links SET status = 'disabled' WHERE id = $1", [link.linkId]));
  });

  test("link deleted", async () => {
    const link = await world.addLink({ access: "read" });
    await measure("link deleted", link.linkId, link.key, () => sql.query("DELETE FROM links WHERE id = $1", [link.linkId]));
  });

  test("scope narrowed (the table disappears for the link)", async () => {
    const link = await world.addLink({ access: "read" });
    await measure("scope narrowed", link.linkId, link.key, () =>
      sql.query("UPDATE links SET scope = $2 WHERE id = $1", [link.linkId, JSON.stringify({ access: "read", tables: { genre: { access: "none" } } })]),
    );
  });

  test("connection repointed (the old database is no longer reached)", async () => {
    const team = await world.addTeam();
    const link = await world.addLink({ access: "read" }, team);
    await measure("connection repointed", link.linkId, link.key, () =>
      sql.query("UPDATE connections SET database = 'no_such_database' WHERE id = $1", [team.connectionId]),
    );
  });

  test("key revoked", async () => {
    const link = await world.addLink({ access: "read" });
    await measure("key revoked", link.linkId, link.key, () => sql.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1", [link.apiKeyId]));
  });

  test("OAuth grant revoked", async () => {
    const link = await world.addLink({ access: "read" });
    const { token, grantId } = await oauthToken(link, link.userId);
    await measure("oauth grant revoked", link.linkId, token, () => sql.query("UPDATE oauth_grants SET revoked_at = now() WHERE id = $1", [grantId]));
  });

  test("OAuth access of a removed member dies with the membership and stays dead after a re-invite", async () => {
    const link = await world.addLink({ access: "read" });
    const m = await member("member", link);
    const { token, grantId } = await oauthToken(link, m.userId);
    await measure("oauth member removed", link.linkId, token, () => sql.query("DELETE FROM memberships WHERE team_id = $1 AND user_id = $2", [link.teamId, m.userId]));
    const grant = await sql.query("SELECT revoked_at FROM oauth_grants WHERE id = $1", [grantId]);
    expect(grant.rows[0].revoked_at).not.toBeNull();
    const key = await sql.query("SELECT revoked_at FROM api_keys WHERE id = $1", [m.apiKeyId]);
    expect(key.rows[0].revoked_at).not.toBeNull();
    // Invited again, with the same link access: the old token and key stay refused on both instances.
    await sql.query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, 'member')", [link.teamId, m.userId]);
    await sql.query("INSERT INTO link_access (link_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", [link.linkId, m.userId]);
    await new Promise((r) => setTimeout(r, 300));
    for (const g of gateways) {
      expect((await rawPost(`${g.url}/mcp/${link.linkId}`, call(), { authorization: `Bearer ${token}` })).status).toBe(401);
      expect((await rawPost(`${g.url}/mcp/${link.linkId}`, call(), { authorization: `Bearer ${m.key}` })).status).toBe(401);
    }
  });
});

test("a lost LISTEN connection clears the caches: a change made while it reconnects still arrives within a second", async () => {
  const link = await world.addLink({ access: "read" });
  await measure("revoked during listener loss", link.linkId, link.key, async () => {
    const { rowCount } = await sql.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'portcullis-gateway-listen' AND datname = current_database()");
    expect(rowCount).toBe(2);
    await sql.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1", [link.apiKeyId]);
  });
  // Both instances listen again.
  for (const g of gateways) {
    for (let i = 0; !(await fetch(`${g.url}/readyz`)).ok; i++) {
      if (i > 50) throw new Error("listener did not come back");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const after = await world.addLink({ access: "read" });
  await measure("revoked after reconnect", after.linkId, after.key, () => sql.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1", [after.apiKeyId]));
});

test("a LISTEN connection that hangs silently (no error, no notifications) is detected by its heartbeat", async () => {
  for (const g of gateways) {
    for (let i = 0; !(await fetch(`${g.url}/readyz`)).ok; i++) {
      if (i > 50) throw new Error("listener not ready");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const link = await world.addLink({ access: "read" });
  const { rows } = await sql.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'portcullis-gateway-listen' AND datname = current_database()");
  expect(rows.length).toBe(2);
  const pids = rows.map((r) => r.pid as number);
  try {
    await measure("revoked while the listener hangs", link.linkId, link.key, async () => {
      // The backends stop answering but their sockets stay open: nothing tells the gateways.
      for (const pid of pids) process.kill(pid, "SIGSTOP");
      await sql.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1", [link.apiKeyId]);
    }, 6_000);
  } finally {
    for (const pid of pids) process.kill(pid, "SIGCONT");
  }
});
