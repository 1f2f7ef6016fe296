import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { ingestAuditBatch } from "@portcullis/db/audit";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { addConnection, addMember, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { generateSecretKey, SecretKeyring } from "@portcullis/db/secrets";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";

// Each cli() run is a Node process loading the CLI through tsx (~1.7 s of CPU): a case of six or seven
// took 33-35 s on a loaded 2-core machine and passed 60 s at nice 19, failing on the timeout (and the
// next case on what the cut one left). No speed is judged here.
vi.setConfig({ testTimeout: 180_000 });

/** `portcullis member attr …` as an operator runs it: a separate process on a real metadata database. */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
const secretKeys = generateSecretKey("k1");
const env: NodeJS.ProcessEnv = { ...process.env, PORTCULLIS_SECRET_KEYS: secretKeys };
let meta: TestDatabase;
let prisma: PrismaClient;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["--import", "tsx", "apps/cli/src/main.ts", ...args], { cwd: root, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let team: { id: string; slug: string };
let other: { id: string; slug: string };
let linkId: string;
let otherLinkId: string;
const attrs = () => prisma.linkMemberAttribute.findMany({ orderBy: [{ userId: "asc" }, { name: "asc" }], select: { name: true, value: true, userId: true } });

beforeAll(async () => {
  meta = await createMetadataDatabase();
  Object.assign(env, { DATABASE_URL: meta.url, REDIS_URL: "" });
  prisma = createPrismaClient(meta.url);
  const keyring = SecretKeyring.parse(secretKeys);
  const scope = { access: "read", tables: {}, limits: { maxRows: 10, statementTimeoutMs: 1000 } };
  const world = async (name: string) => {
    const owner = await createUser(prisma, { email: `owner@${name}.test`, password: "a long passphrase" });
    const t = await createTeam(prisma, { name, ownerId: owner.id });
    const connection = await addConnection(prisma, { teamId: t.id, name: "db", test: false, fields: { host: "127.0.0.1", port: 5432, database: "x", username: "u", password: "p", sslMode: "disable" } }, keyring);
    const link = await createLink(prisma, { teamId: t.id, connectionId: connection.id, name: "sales", scope });
    return { team: t, link };
  };
  const a = await world("acme");
  const b = await world("globex");
  team = a.team;
  other = b.team;
  linkId = a.link.id;
  otherLinkId = b.link.id;
  const rep = await createUser(prisma, { email: "rep@acme.test", password: "a long passphrase" });
  const stranger = await createUser(prisma, { email: "stranger@acme.test", password: "a long passphrase" });
  await addMember(prisma, { teamId: team.id, userId: rep.id, role: "member" });
  await addMember(prisma, { teamId: team.id, userId: stranger.id, role: "member" });
  await prisma.linkAccess.create({ data: { linkId, userId: rep.id } });
});

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

describe("portcullis member attr", () => {
  it("sets, lists and unsets a member's attributes, each change recorded as a CLI config change", async () => {
    const set = await cli(["member", "attr", "set", "--link", linkId, "--user", "Rep@Acme.test", "rep_id=3", "region=emea=west", "--json"]);
    expect(set.stderr).toBe("");
    expect(JSON.parse(set.stdout)).toMatchObject({ linkId, member: { email: "rep@acme.test", attributes: { rep_id: "3", region: "emea=west" } } });
    // By name within a team, human output.
    const human = await cli(["member", "attr", "set", "--team", team.slug, "--link", "sales", "--user", "rep@acme.test", "rep_id=4"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("rep@acme.test  region=emea=west  rep_id=4");
    const listed = JSON.parse((await cli(["member", "attr", "list", "--link", linkId, "--json"])).stdout) as { members: unknown[] };
    expect(listed.members).toEqual([{ userId: expect.any(String), email: "rep@acme.test", attributes: { region: "emea=west", rep_id: "4" } }]);
    const unset = await cli(["member", "attr", "unset", "--link", linkId, "--user", "rep@acme.test", "region", "--json"]);
    expect(JSON.parse(unset.stdout)).toMatchObject({ removed: ["region"], member: { attributes: { rep_id: "4" } } });
    expect((await cli(["member", "attr", "list", "--link", linkId, "--user", "rep@acme.test"])).stdout).toBe("rep@acme.test  rep_id=4\n");
    expect((await attrs()).map((a) => `${a.name}=${a.value}`)).toEqual(["rep_id=4"]);
    const outbox = await prisma.auditOutbox.findMany({ where: { teamId: team.id }, orderBy: { createdAt: "asc" } });
    const changes = outbox.map((o) => JSON.parse(JSON.parse(o.event).detail as string) as { action: string; via?: string }).filter((d) => d.action.startsWith("link.member_attribute."));
    expect(changes.map((c) => `${c.action}/${c.via}`)).toEqual(["link.member_attribute.set/cli", "link.member_attribute.set/cli", "link.member_attribute.unset/cli"]);
  });

  it("refuses unknown links and users, members without the link, other teams' links and bad names, writing nothing", async () => {
    const before = await attrs();
    const outboxBefore = await prisma.auditOutbox.count();
    const cases: [string[], number, RegExp][] = [
      [["--link", "00000000-0000-4000-8000-000000000000", "--user", "rep@acme.test", "rep_id=1"], 1, /no link/],
      [["--link", "sales", "--user", "rep@acme.test", "rep_id=1"], 1, /link's id/],
      [["--link", linkId, "--user", "nobody@acme.test", "rep_id=1"], 1, /no user/],
      [["--link", linkId, "--user", "stranger@acme.test", "rep_id=1"], 1, /not been granted access/],
      [["--link", linkId, "--user", "owner@globex.test", "rep_id=1"], 1, /not a member of this team/],
      [["--team", other.slug, "--link", "sales", "--user", "rep@acme.test", "rep_id=1"], 1, /not a member of this team/],
      [["--team", team.slug, "--link", otherLinkId, "--user", "rep@acme.test", "rep_id=1"], 1, /no link/],
      [["--link", linkId, "--user", "rep@acme.test", "Rep-Id=1"], 1, /attribute names are lower-case/],
      [["--link", linkId, "--user", "rep@acme.test", "rep_id"], 1, /expected NAME=VALUE/],
      [["--link", linkId, "--user", "rep@acme.test", "rep_id=1", "rep_id=2"], 1, /given twice/],
      [["--link", linkId, "--user", "rep@acme.test", `rep_id=${"x".repeat(1025)}`], 1, /at most 1024 bytes/],
    ];
    for (const [args, code, message] of cases) {
      const result = await cli(["member", "attr", "set", ...args, "--json"]);
      expect(result.code, args.join(" ")).toBe(code);
      expect(result.stderr, args.join(" ")).toMatch(message);
      expect(JSON.parse(result.stdout).error.code).toMatch(/not_found|invalid_input|forbidden/);
    }
    const unsetBad = await cli(["member", "attr", "unset", "--link", linkId, "--user", "rep@acme.test", "Bad"]);
    expect(unsetBad.code).toBe(1);
    expect(unsetBad.stderr).toMatch(/not an attribute name/);
    expect(await attrs()).toEqual(before);
    expect(await prisma.auditOutbox.count()).toBe(outboxBefore);
  });

  it("audit tail --json shows a rewritten call's original and rewritten SQL and the attribute names", async () => {
    const pool = new pg.Pool({ connectionString: meta.url, max: 1 });
    try {
      const id = randomUUID();
      const rewrittenSql = "SELECT customer_id FROM (SELECT customer_id FROM public.customer WHERE support_rep_id = CAST($1 AS int) OFFSET 0) AS customer";
      await ingestAuditBatch(pool, [
        { id, time: new Date().toISOString(), teamId: team.id, tool: "execute_sql", sql: "SELECT customer_id FROM customer", rewrittenSql, attributeNames: ["rep_id"], verdict: "allowed" },
      ]);
      const tail = await cli(["audit", "tail", "--team", team.slug, "--json"]);
      expect(tail.code, tail.stderr).toBe(0);
      const rows = tail.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(rows.find((r) => r.id === id)).toMatchObject({ sql: "SELECT customer_id FROM customer", rewrittenSql, attributeNames: ["rep_id"] });
      expect((await cli(["audit", "tail", "--team", team.slug])).stdout).toMatch(/allowed +execute_sql .*\(rewritten; binds rep_id\) SELECT customer_id FROM customer/);
    } finally {
      await pool.end();
    }
  });
});
