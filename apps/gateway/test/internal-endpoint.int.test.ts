import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createGateway } from "../src/gateway.js";
import { GatewayWorld, auditEvents, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * The internal Playground endpoint: its own loopback listener (not the public port), and the gateway
 * itself decides whether the user named in the body may use the link, judged by what runs: a marker
 * query's rows in the answer and the audit events it leaves.
 */
let world: GatewayWorld;
let base: string;
let internal: string;
let link: LinkFixture;
let otherTeamLink: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  base = started.url;
  internal = started.internalUrl!;
  link = await world.addLink({ access: "read" });
  otherTeamLink = await world.addLink({ access: "read" }, await world.addTeam());
});
afterAll(() => world?.close());

const playground = (at: string, linkId: string, userId: string, sql: string) =>
  fetch(`${at}/internal/links/${linkId}/playground`, {
    method: "POST",
    headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
    body: JSON.stringify({ sql, userId }),
  });

async function user(role: "owner" | "admin" | "member" | "viewer" | null, access = false, teamId = world.teamId, linkId = link.linkId): Promise<string> {
  const u = await world.prisma.user.create({ data: { email: `pg-${randomBytes(4).toString("hex")}@example.com` } });
  if (role) await world.prisma.membership.create({ data: { teamId, userId: u.id, role } });
  if (access) await world.prisma.linkAccess.create({ data: { linkId, userId: u.id } });
  return u.id;
}

test("the public port does not serve the internal endpoint; the internal one listens on loopback", async () => {
  const r = await playground(base, link.linkId, world.userId, "SELECT 1");
  expect(r.status).toBe(404);
  expect(new URL(internal).hostname).toBe("127.0.0.1");
  expect(new URL(internal).port).not.toBe(new URL(base).port);
});

test("no token configured: no internal listener at all", async () => {
  const gateway = createGateway(world.env({ GATEWAY_INTERNAL_TOKEN: "" }));
  await gateway.start();
  expect(gateway.internalUrl).toBeUndefined();
  await gateway.stop();
});

test("the gateway checks the user itself: only those a key would be issued to run SQL", async () => {
  const cases: [string, string, number][] = [
    ["owner", world.userId, 200],
    ["admin", await user("admin"), 200],
    ["member with access", await user("member", true), 200],
    ["member without access", await user("member", false), 403],
    ["viewer", await user("viewer"), 403],
    ["not a member", await user(null), 403],
    ["owner of another team", otherTeamLink.userId, 403],
  ];
  for (const [who, userId, status] of cases) {
    const marker = `marker_${randomBytes(4).toString("hex")}`;
    const r = await playground(internal, link.linkId, userId, `SELECT '${marker}' AS m`);
    expect(r.status, who).toBe(status);
    const body = (await r.json()) as { result?: { rows: unknown[][] } };
    if (status === 200) expect(body.result?.rows, who).toEqual([[marker]]);
    else expect(JSON.stringify(body), who).not.toContain(marker);
  }
  // Refusals are audited for the link's team, without naming the refused user as the actor.
  const events = await waitFor(
    () => auditEvents(world),
    (es) => es.filter((e) => e.kind === "request_refused" && e.ruleId === "playground_forbidden").length >= 3,
  );
  expect(events.filter((e) => e.kind === "tool_call" && e.clientName === "portcullis-playground" && e.sql?.includes("marker_")).length).toBe(3);
});

test("a disabled link is refused, for its owner too, at once", async () => {
  const l = await world.addLink({ access: "read" });
  expect((await playground(internal, l.linkId, world.userId, "SELECT 1")).status).toBe(200);
  await world.prisma.link.update({ where: { id: l.linkId }, data: { status: "disabled" } });
  const r = await playground(internal, l.linkId, world.userId, "SELECT 'after-disable' AS m");
  expect(r.status).toBe(403);
  expect(await r.text()).toContain("disabled");
});

test("a forged userId of another team cannot reach another team's link through this team's token", async () => {
  // The endpoint's token is shared by the whole dashboard; the body's ids are the only tenant input.
  const r = await playground(internal, otherTeamLink.linkId, world.userId, "SELECT 'cross' AS m");
  expect(r.status).toBe(403);
  expect(await r.text()).not.toContain("cross");
});
