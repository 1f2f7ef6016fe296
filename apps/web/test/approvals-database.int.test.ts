import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { createChinookDatabase, createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { renderToStaticMarkup } from "react-dom/server";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Attack finding 2: the approver reads which database a write request or access request is for. A link
 * with two databases ("music", its own, and "ledger"): the Approvals page (request card, access
 * requests) and the link's grants panel name the database; the link's first's name for a row naming none.
 */
vi.mock("next/headers", () => ({ cookies: async () => ({ getAll: () => [], get: () => undefined }), headers: async () => new Headers() }));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));
vi.mock("next/navigation", async (original) => ({ ...(await original<typeof import("next/navigation")>()), useRouter: () => ({ refresh() {}, push() {}, replace() {}, prefetch() {}, back() {}, forward() {} }) }));

let meta: TestDatabase;
let chinook: TestDatabase;
let prisma: import("@portcullis/db/client").PrismaClient;
const ids = { owner: "", member: "", team: "", link: "", slug: "", ledgerRequest: "", firstRequest: "" };

beforeAll(async () => {
  [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  useDashboardEnv(meta.url);
  Object.assign(process.env, { TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true", TARGET_STACK_DATABASES: new URL(chinook.url).pathname.slice(1) });
  prisma = (await import("../src/lib/db")).getPrisma();
  const ops = await import("@portcullis/db/operations");
  const { parseScope } = await import("@portcullis/policy/scope");
  const { getKeyring } = await import("@portcullis/db/secrets");
  ids.owner = (await ops.createUser(prisma, { email: `owner-${randomBytes(3).toString("hex")}@example.com`, password: "a long enough password" })).id;
  ids.member = (await ops.createUser(prisma, { email: `member-${randomBytes(3).toString("hex")}@example.com`, password: "a long enough password" })).id;
  const team = await ops.createTeam(prisma, { name: "Ledgers", ownerId: ids.owner });
  Object.assign(ids, { team: team.id, slug: team.slug });
  await ops.addMember(prisma, { teamId: team.id, userId: ids.member, role: "member" });
  const url = new URL(chinook.url);
  const fields = { host: url.hostname, port: Number(url.port), database: url.pathname.slice(1), username: decodeURIComponent(url.username), password: decodeURIComponent(url.password), sslMode: "disable" as const };
  const connection = await ops.addConnection(prisma, { teamId: team.id, name: "chinook", test: false, fields }, getKeyring(process.env.PORTCULLIS_SECRET_KEYS!));
  const scope = { access: "read", tables: { invoice_line: { access: "write", approval: "writes" } }, limits: { maxRows: 100, statementTimeoutMs: 5000 } };
  ids.link = (await ops.createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "sales", scope, databaseName: "music" })).id;
  await prisma.linkAccess.create({ data: { linkId: ids.link, userId: ids.member } });
  await ops.addLinkDatabase(prisma, { teamId: team.id, linkId: ids.link, name: "ledger", connectionId: connection.id, scope }, { parseScope });
  const request = async (databaseName: string | null, sql: string) =>
    (
      await ops.createWriteRequest(prisma, {
        teamId: team.id, linkId: ids.link, kind: "approval", mode: "writes", tables: ["public.invoice_line"], reason: "needs a lead's approval", sql, params: [],
        catalogVersion: "v1", scopeHash: "s1", userId: ids.member, principalSubject: "key:k", preview: null, expiresAt: new Date(Date.now() + 3_600_000), databaseName,
      })
    ).id;
  ids.ledgerRequest = await request("ledger", "DELETE FROM invoice_line WHERE invoice_line_id = 1");
  ids.firstRequest = await request(null, "DELETE FROM invoice_line WHERE invoice_line_id = 2");
  await ops.requestAccessGrant(prisma, { teamId: team.id, linkId: ids.link, userId: ids.member, tableKey: "public.genre", access: "write", minutes: 30, reason: "fix a genre", via: "dashboard", databaseName: "ledger" });
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), chinook?.drop()]);
});

test("the Approvals page names the database of each request card and access request", async () => {
  const { resolveTeam } = await import("../src/lib/authz");
  const { ApprovalsView } = await import("../src/features/approvals/approvals-view");
  const ops = await import("../src/features/approvals/operations");
  const ctx = await resolveTeam({ userId: ids.owner }, ids.team);
  const open = await ops.listOpenRequests(ctx);
  expect(Object.fromEntries(open.map((r) => [r.id, r.databaseLabel]))).toEqual({ [ids.ledgerRequest]: "ledger", [ids.firstRequest]: "music" });
  expect((await ops.listAccessRequests(ctx)).pending.map((g) => g.databaseLabel)).toEqual(["ledger"]);
  const html = renderToStaticMarkup(await ApprovalsView({ ctx, slug: ids.slug, query: {} }));
  const card = (id: string) => html.slice(html.indexOf(`id="request-${id}"`), html.indexOf(`id="request-${id}"`) + 6000);
  expect(card(ids.ledgerRequest)).toMatch(/Database<\/[a-z]+>.{0,200}ledger/s);
  expect(card(ids.firstRequest)).toMatch(/Database<\/[a-z]+>.{0,200}music/s);
  expect(html).toMatch(/public\.genre<\/span> in database <code[^>]*>ledger<\/code>/);
});

test("the link's grants panel names the database", async () => {
  const { resolveTeam } = await import("../src/lib/authz");
  const { linkAccessGrants } = await import("../src/features/access-grants/operations");
  const { AccessGrantsPanel } = await import("../src/features/access-grants/grants-panel");
  const grants = await linkAccessGrants(await resolveTeam({ userId: ids.owner }, ids.team), ids.link);
  expect(grants.map((g) => g.databaseLabel)).toEqual(["ledger"]);
  const { createElement } = await import("react");
  expect(renderToStaticMarkup(createElement(AccessGrantsPanel, { teamId: ids.team, grants }))).toMatch(/public\.genre<\/code> in database <code[^>]*>ledger<\/code>/);
});
