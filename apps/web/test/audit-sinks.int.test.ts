import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { type ActionWorld, type Result, createActionWorld } from "./support/action-world";

/**
 * Audit sinks through the dashboard's own boundary: the server actions called as a browser (or an
 * attacker) calls them, and the pull cursor route called with a real session. Judged by effect: the
 * audit_sinks rows before and after, the audit outbox, the lines returned.
 */
const jar = vi.hoisted(() => ({ token: undefined as string | undefined }));
vi.mock("next/headers", () => ({
  cookies: async () => ({
    getAll: () => (jar.token ? [{ name: "next-auth.session-token", value: jar.token }] : []),
    get: (name: string) => (jar.token && name === "next-auth.session-token" ? { name, value: jar.token } : undefined),
  }),
  headers: async () => new Headers({ "user-agent": "vitest sinks", "x-real-ip": "203.0.113.8" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));

type Who = "owner" | "admin" | "member" | "viewer" | "outsider" | "auditor";
let world: ActionWorld;
const tokens = {} as Record<Who, string>;
let actions: typeof import("../src/features/audit-export/actions");
let cursorRoute: typeof import("../src/app/t/[slug]/activity/export/cursor/route");
let db: pg.Pool;
let slugA: string;
let slugB: string;

const as = (who: Who) => (jar.token = tokens[who]);
async function call(who: Who, fn: (input: never) => Promise<Result>, input: unknown): Promise<Result> {
  as(who);
  return fn(input as never);
}
const sinkRows = async () => (await db.query("SELECT * FROM audit_sinks ORDER BY id")).rows;

async function insertEvents(teamId: string, n: number) {
  await db.query(
    `INSERT INTO audit_events (id, team_id, time, seq, tool, sql, verdict, prev_hash, hash)
     SELECT gen_random_uuid(), $1::uuid, now(), g, 'execute_sql', 'SELECT ' || g, 'allowed', md5('p' || g), md5('h' || g) FROM generate_series(1, $2::int) g`,
    [teamId, n],
  );
}

beforeAll(async () => {
  world = await createActionWorld("sink");
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  Object.assign(tokens, world.tokens);
  const { createUser, addMember } = await import("@portcullis/db/operations");
  const { encode } = await import("next-auth/jwt");
  const u = await createUser(world.prisma, { email: `auditor-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
  await addMember(world.prisma, { teamId: world.teamA, userId: u.id, role: "auditor" });
  const session = await world.prisma.session.create({ data: { userId: u.id, expiresAt: new Date(Date.now() + 86_400_000), userAgent: "vitest" } });
  tokens.auditor = await encode({ token: { uid: u.id, sid: session.id }, secret: process.env.NEXTAUTH_SECRET! });
  actions = await import("../src/features/audit-export/actions");
  cursorRoute = await import("../src/app/t/[slug]/activity/export/cursor/route");
  db = new pg.Pool({ connectionString: world.meta.url, max: 2 });
  slugA = (await db.query("SELECT slug FROM teams WHERE id = $1", [world.teamA])).rows[0].slug;
  slugB = (await db.query("SELECT slug FROM teams WHERE id = $1", [world.teamB])).rows[0].slug;
  await insertEvents(world.teamA, 25);
  await insertEvents(world.teamB, 7);
}, 120_000);

afterAll(async () => {
  await db?.end();
  await world?.drop();
});

describe("sink actions", () => {
  let sinkA: string;
  let sinkB: string;

  test("an admin adds a webhook sink: the secret comes back once, the audit record names the sink and holds no secret or query string", async () => {
    const added = await call("admin", actions.addAuditSinkAction, { teamId: world.teamA, kind: "webhook", name: "splunk", url: "https://siem.example.com/hook/tok-PATH?token=tok-SECRET" });
    expect(added.ok).toBe(true);
    const { id, secret } = (added as { data: { id: string; secret: string } }).data;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    sinkA = id;
    const outbox = (await db.query("SELECT event FROM audit_outbox WHERE team_id = $1 AND event LIKE '%audit_sink.create%'", [world.teamA])).rows;
    expect(outbox).toHaveLength(1);
    expect(outbox[0].event).toContain("splunk");
    expect(outbox[0].event).not.toContain(secret);
    expect(outbox[0].event).not.toContain("tok-SECRET");
    // A token in the path stays out of the trail too: the origin only.
    expect(outbox[0].event).not.toContain("tok-PATH");
    expect(outbox[0].event).toContain("https://siem.example.com/…");
    const b = await call("outsider", actions.addAuditSinkAction, { teamId: world.teamB, kind: "file", name: "theirs" });
    sinkB = (b as { data: { id: string } }).data.id;
  });

  test("the list shows a viewer or an auditor the origin only (a path token stays hidden); an admin sees the path, never the query", async () => {
    const { listSinks } = await import("../src/features/audit-export/operations");
    const ctx = (role: "viewer" | "auditor" | "admin") => ({ team: { id: world.teamA }, role }) as unknown as Parameters<typeof listSinks>[0];
    for (const role of ["viewer", "auditor"] as const) {
      const rows = await listSinks(ctx(role));
      const url = rows.find((r) => r.id === sinkA)!.url;
      expect(url, role).toBe("https://siem.example.com/…");
      expect(JSON.stringify(rows), role).not.toContain("tok-");
    }
    const admin = await listSinks(ctx("admin"));
    expect(admin.find((r) => r.id === sinkA)!.url).toBe("https://siem.example.com/hook/tok-PATH?…");
    expect(JSON.stringify(admin)).not.toContain("tok-SECRET");
  });

  test("an auditor (and a member, a viewer) is refused every change, however the request is forged; nothing changes", async () => {
    const before = await sinkRows();
    const forged = [
      [actions.addAuditSinkAction, { teamId: world.teamA, kind: "file", name: "mine" }],
      [actions.pauseAuditSinkAction, { teamId: world.teamA, sinkId: sinkA }],
      [actions.resumeAuditSinkAction, { teamId: world.teamA, sinkId: sinkA }],
      [actions.deleteAuditSinkAction, { teamId: world.teamA, sinkId: sinkA }],
      [actions.rotateAuditSinkSecretAction, { teamId: world.teamA, sinkId: sinkA }],
      [actions.testAuditSinkAction, { teamId: world.teamA, sinkId: sinkA }],
    ] as const;
    for (const who of ["auditor", "member", "viewer"] as const) {
      for (const [fn, input] of forged) {
        const result = await call(who, fn as never, input);
        expect(result.ok, `${who} ${fn.name}`).toBe(false);
        expect((result as { code: string }).code).toBe("forbidden");
      }
      // Extra keys (a role, another team) are refused, not stripped.
      expect((await call(who, actions.pauseAuditSinkAction as never, { teamId: world.teamA, sinkId: sinkA, role: "admin" })).ok).toBe(false);
    }
    expect(await sinkRows()).toEqual(before);
  });

  test("a sink of another team, in every action, is not found and untouched", async () => {
    const before = await sinkRows();
    for (const fn of [actions.pauseAuditSinkAction, actions.resumeAuditSinkAction, actions.deleteAuditSinkAction, actions.rotateAuditSinkSecretAction, actions.testAuditSinkAction]) {
      const result = await call("owner", fn as never, { teamId: world.teamA, sinkId: sinkB });
      expect(result, fn.name).toMatchObject({ ok: false, code: "not_found" });
      // Naming the other team as one's own: not a member there, so not found either.
      expect(await call("owner", fn as never, { teamId: world.teamB, sinkId: sinkB }), fn.name).toMatchObject({ ok: false, code: "not_found" });
      expect(await call("owner", fn as never, { teamId: world.teamA, sinkId: randomUUID() }), fn.name).toMatchObject({ ok: false, code: "not_found" });
    }
    expect(await sinkRows()).toEqual(before);
  });

  test("SSRF: the metadata service, loopback to the stack's own ports and bad names are refused at the boundary", async () => {
    const before = await sinkRows();
    const db = new URL(world.meta.url);
    for (const url of ["http://169.254.169.254/latest/meta-data/", `http://127.0.0.1:${db.port || 5432}/`, `http://localhost:${db.port || 5432}/`, "ftp://example.com/x", "https://user:pw@example.com/"]) {
      const result = await call("admin", actions.addAuditSinkAction, { teamId: world.teamA, kind: "webhook", name: "ssrf", url });
      expect(result.ok, url).toBe(false);
    }
    for (const name of ["../../etc", "a/b", "..", ""]) expect((await call("admin", actions.addAuditSinkAction, { teamId: world.teamA, kind: "file", name })).ok, name).toBe(false);
    expect(await sinkRows()).toEqual(before);
  });

  test("an admin pauses, resumes, rotates and deletes; each is audited", async () => {
    expect((await call("admin", actions.pauseAuditSinkAction, { teamId: world.teamA, sinkId: sinkA })).ok).toBe(true);
    expect((await db.query("SELECT status FROM audit_sinks WHERE id = $1", [sinkA])).rows[0].status).toBe("paused");
    expect((await call("admin", actions.resumeAuditSinkAction, { teamId: world.teamA, sinkId: sinkA })).ok).toBe(true);
    const before = (await db.query("SELECT secret_ciphertext FROM audit_sinks WHERE id = $1", [sinkA])).rows[0].secret_ciphertext;
    const rotated = await call("admin", actions.rotateAuditSinkSecretAction, { teamId: world.teamA, sinkId: sinkA });
    expect(rotated.ok).toBe(true);
    expect((await db.query("SELECT secret_ciphertext FROM audit_sinks WHERE id = $1", [sinkA])).rows[0].secret_ciphertext).not.toBe(before);
    expect((await call("admin", actions.deleteAuditSinkAction, { teamId: world.teamA, sinkId: sinkA })).ok).toBe(true);
    const actionsSeen = (await db.query("SELECT event FROM audit_outbox WHERE team_id = $1 AND event LIKE '%audit_sink.%'", [world.teamA])).rows.map((r) => JSON.parse(r.event).detail as string);
    for (const a of ["audit_sink.create", "audit_sink.pause", "audit_sink.resume", "audit_sink.secret.rotate", "audit_sink.delete"]) expect(actionsSeen.some((d) => d.includes(`"${a}"`)), a).toBe(true);
    expect(actionsSeen.join("\n")).not.toContain((rotated as { data: { secret: string } }).data.secret);
    expect((await db.query("SELECT count(*)::int AS n FROM audit_sinks WHERE team_id = $1", [world.teamA])).rows[0].n).toBe(0);
  });
});

describe("the pull cursor", () => {
  const get = async (who: Who | null, slug: string, query: string) => {
    jar.token = who ? tokens[who] : undefined;
    return cursorRoute.GET(new Request(`http://localhost:3999/t/${slug}/activity/export/cursor${query}`), { params: Promise.resolve({ slug }) });
  };
  const seqs = async (res: Response) => (await res.text()).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).seq as string);

  test("pages through the team's events in seq order with the next cursor; an auditor may, a member may not", async () => {
    const first = await get("auditor", slugA, "?after=0&limit=10");
    expect(first.status).toBe(200);
    expect(await seqs(first)).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    expect(first.headers.get("portcullis-next-cursor")).toBe("10");
    const rest = await get("admin", slugA, "?after=10&limit=100");
    const lines = await seqs(rest);
    expect(lines[0]).toBe("11");
    expect(lines.length).toBeGreaterThanOrEqual(15);
    const end = await get("auditor", slugA, `?after=${rest.headers.get("portcullis-next-cursor")}`);
    expect(await seqs(end)).toEqual([]);
    expect(end.headers.get("portcullis-next-cursor")).toBe(rest.headers.get("portcullis-next-cursor"));
    expect((await get("member", slugA, "?after=0")).status).toBe(404);
    expect((await get(null, slugA, "?after=0")).status).toBe(401);
  });

  test("junk cursors are 400s; another team's slug is a 404 with nothing of theirs", async () => {
    for (const q of ["?after=-1", "?after[]=1", "?after=1&after=2", "?after=1.5", "?after=99999999999999999999", "?after=9223372036854775808", "?after=0x10", "?after=%00", "?limit=0", "?limit=5001", "?sql=1"]) {
      const res = await get("auditor", slugA, q);
      expect(res.status, q).toBe(400);
    }
    const max = await get("auditor", slugA, "?after=9223372036854775807");
    expect(max.status).toBe(200);
    expect(await seqs(max)).toEqual([]);
    const other = await get("auditor", slugB, "?after=0");
    expect(other.status).toBe(404);
    expect(await other.text()).not.toContain("SELECT");
  });

  test("events retention removed are announced once (gap line and header) and the cursor moves past them", async () => {
    // What retention leaves behind: the team's first five events gone, its anchor at 5 holding the hash
    // the next event links to (these synthetic events link by prev_hash = md5('p' || seq)).
    await db.query("DELETE FROM audit_events WHERE team_id = $1 AND seq <= 5", [world.teamA]);
    await db.query(
      `INSERT INTO audit_chain_anchors (team_id, pruned_through_seq, pruned_through_hash) VALUES ($1, 5, md5('p6'))
       ON CONFLICT (team_id) DO UPDATE SET pruned_through_seq = 5, pruned_through_hash = md5('p6')`,
      [world.teamA],
    );
    const res = await get("auditor", slugA, "?after=2&limit=3");
    expect(res.headers.get("portcullis-gap")).toBe("3-5");
    const [gap, ...lines] = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(gap).toMatchObject({ type: "portcullis.audit_gap", from_seq: "3", to_seq: "5", events: 3, reason: "retention" });
    expect(lines.map((l) => l.seq)).toEqual(["6", "7", "8"]);
    expect(res.headers.get("portcullis-next-cursor")).toBe("8");
    // Past the anchor there is nothing to announce.
    const next = await get("auditor", slugA, "?after=8&limit=2");
    expect(next.headers.get("portcullis-gap")).toBeNull();
    expect(await seqs(next)).toEqual(["9", "10"]);
  });
});
