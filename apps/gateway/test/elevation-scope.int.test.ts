import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, createUser, decideAccessGrant, requestAccessGrant } from "@portcullis/db/operations";
import { effectiveLink } from "../src/access/effective-link.js";
import type { LinkRecord } from "../src/context.js";
import { LinkStore } from "../src/links/link-store.js";
import { GatewayWorld } from "./fixtures.js";

/**
 * The effective scope of a member holding access grants, read by the real LinkStore from a real
 * metadata database: one stable record per (link record, grant set) — the verdict cache, the tool-list
 * cache and the WeakMaps key by it — the exact end of a grant, and grants that must not apply (a table
 * hidden since, admin on a connection whose role may not carry it).
 */
let world: GatewayWorld;
let pool: pg.Pool;
let store: LinkStore;
let linkId = "";
let member = "";
let other = "";
const logged: unknown[] = [];
const logger = { warn: (o: unknown) => logged.push(o), error() {}, info() {}, debug() {} } as never;

async function grant(table: string, access: "write" | "admin", minutes = 30): Promise<string> {
  const asked = await requestAccessGrant(pool, { teamId: world.teamId, linkId, userId: member, tableKey: table, access, minutes, reason: "test", via: "tool", requestedBy: member });
  await decideAccessGrant(pool, { teamId: world.teamId, id: asked.id, deciderId: world.userId, decision: "grant" });
  store.grants.invalidate({ linkId, userId: member });
  return asked.id;
}

async function setFacts(superuser: boolean | null): Promise<void> {
  const facts = superuser === null ? null : JSON.stringify({ role: "r", superuser, createRole: false, serverRoles: [] });
  await pool.query("UPDATE connections SET role_privileges = $1::jsonb WHERE id = $2", [facts, world.connectionId]);
  store.invalidateConnection(world.connectionId);
}

beforeAll(async () => {
  world = await GatewayWorld.create();
  pool = new pg.Pool({ connectionString: world.meta.url, max: 4 });
  store = new LinkStore(pool, 60_000, logger);
  linkId = (await world.addLink({ access: "read", tables: { invoice: { access: "read", rowFilter: "customer_id = 1" } } })).linkId;
  for (const id of ["member", "other"] as const) {
    const user = await createUser(world.prisma, { email: `scope-${id}-${randomUUID().slice(0, 6)}@example.com` });
    await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
    await world.prisma.linkAccess.create({ data: { linkId, userId: user.id } });
    if (id === "member") member = user.id;
    else other = user.id;
  }
}, 120_000);

afterAll(async () => {
  await pool?.end().catch(() => {});
  await world?.close();
});

const effective = async (userId: string | null): Promise<LinkRecord> => store.forPrincipal((await store.get(linkId))!, { userId });

describe("effective scope", () => {
  it("is the link's own record without grants, and one stable record per grant set with them", async () => {
    const own = (await store.get(linkId))!;
    expect(await effective(member)).toBe(own);
    expect(await effective(null)).toBe(own);
    // Cached: the second call answers without a promise (the hot path pays a Map lookup).
    expect(store.forPrincipal(own, { userId: member })).toBe(own);

    const id = await grant("public.genre", "write");
    const first = await effective(member);
    expect(first).not.toBe(own);
    expect(first.scope.tables["public.genre"]?.access).toBe("write");
    expect(first.grants?.map((g) => g.id)).toEqual([id]);
    // The rest of the scope is the link's: the row filter stays, the default stays.
    expect(first.scope.tables.invoice?.rowFilter).toBe("customer_id = 1");
    expect(first.scope.access).toBe("read");
    expect(own.scope.tables["public.genre"]).toBeUndefined();
    expect(await effective(member)).toBe(first);
    expect(store.forPrincipal(own, { userId: member })).toBe(first);
    // Another member of the same link holds nothing.
    expect(await effective(other)).toBe(own);

    // A second grant is another set: another record, then stable again.
    await grant("public.track", "write");
    const second = await effective(member);
    expect(second).not.toBe(first);
    expect(second.scope.tables["public.track"]?.access).toBe("write");
    expect(await effective(member)).toBe(second);
  });

  it("stops at exactly expires_at", async () => {
    const own = (await store.get(linkId))!;
    const grants = await store.grants.get(linkId, member);
    const end = Math.min(...grants.map((g) => g.expiresAt));
    const ending = grants.find((g) => g.expiresAt === end)!;
    expect(effectiveLink(own, grants, undefined, end - 1).grants?.map((g) => g.id)).toContain(ending.id);
    expect(effectiveLink(own, grants, undefined, end).grants?.map((g) => g.id) ?? []).not.toContain(ending.id);
    expect(effectiveLink(own, grants, undefined, Math.max(...grants.map((g) => g.expiresAt)))).toBe(own);
  });

  it("never reveals a table the link hides now, even one granted before it was hidden", async () => {
    await world.prisma.link.update({ where: { id: linkId }, data: { scope: { access: "read", tables: { genre: { access: "none" } } } } });
    store.invalidateLink(linkId);
    const record = await effective(member);
    expect(record.scope.tables.genre?.access).toBe("none");
    expect(record.scope.tables["public.genre"]).toBeUndefined();
    expect(record.grants?.some((g) => g.tableKey === "public.genre")).toBe(false);
    expect(logged).toContainEqual(expect.objectContaining({ table: "public.genre", why: "the table is hidden on this link" }));
    // The track grant still applies.
    expect(record.scope.tables["public.track"]?.access).toBe("write");
  });

  it("gives admin only where the connection's role is known and may carry it", async () => {
    await grant("public.album", "admin");
    await setFacts(null);
    expect((await effective(member)).scope.tables["public.album"]).toBeUndefined();
    await setFacts(true);
    expect((await effective(member)).scope.tables["public.album"]).toBeUndefined();
    await setFacts(false);
    expect((await effective(member)).scope.tables["public.album"]?.access).toBe("admin");
  });
});
