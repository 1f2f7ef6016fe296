import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Settings → Notifications through its server actions (real session, real PostgreSQL): the signing
 * secret is returned once, by the action that made it, and never again — not in the stored row, not
 * in the page's data, not in the props the section renders.
 */
const jar = vi.hoisted(() => {
  const { AsyncLocalStorage } = process.getBuiltinModule("node:async_hooks") as typeof import("node:async_hooks");
  return { als: new AsyncLocalStorage<string>() };
});
vi.mock("next/headers", () => ({
  cookies: async () => {
    const token = jar.als.getStore();
    return {
      getAll: () => (token ? [{ name: "next-auth.session-token", value: token }] : []),
      get: (name: string) => (token && name === "next-auth.session-token" ? { name, value: token } : undefined),
    };
  },
  headers: async () => new Headers({ "user-agent": "vitest notifications", "x-real-ip": "203.0.113.10" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));

type Who = "owner" | "admin" | "member" | "viewer" | "outsider";
type Result = { ok: true; data: { secret?: string | null } } | { ok: false; code: string; error: string; fieldErrors?: Record<string, string> };

let meta: TestDatabase;
let prisma: import("@portcullis/db/client").PrismaClient;
const users = {} as Record<Who, string>;
const tokens = {} as Record<Who, string>;
let teamA: string;
let teamB: string;
let actions: typeof import("../src/features/notifications/actions");
let resolveTeam: typeof import("../src/lib/authz").resolveTeam;

async function call(who: Who, name: keyof typeof actions, input: unknown): Promise<Result> {
  return jar.als.run(tokens[who], () => (actions[name] as unknown as (i: unknown) => Promise<Result>)(input));
}

const VALID = () => ({ teamId: teamA, webhookUrl: "https://hooks.example.com/portcullis", webhookFormat: "slack", emailApprovers: false });
const row = () => prisma.teamNotificationSettings.findUnique({ where: { teamId: teamA } });

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  actions = await import("../src/features/notifications/actions");
  resolveTeam = (await import("../src/lib/authz")).resolveTeam;
  prisma = (await import("../src/lib/db")).getPrisma();
  const { createUser, addMember, createTeam } = await import("@portcullis/db/operations");
  const { encode } = await import("next-auth/jwt");
  for (const who of ["owner", "admin", "member", "viewer", "outsider"] as const) {
    const u = await createUser(prisma, { email: `${who}-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
    users[who] = u.id;
    const session = await prisma.session.create({ data: { userId: u.id, expiresAt: new Date(Date.now() + 86_400_000) } });
    tokens[who] = await encode({ token: { uid: u.id, sid: session.id }, secret: process.env.NEXTAUTH_SECRET! });
  }
  teamA = (await createTeam(prisma, { name: "Notified", ownerId: users.owner })).id;
  for (const role of ["admin", "member", "viewer"] as const) await addMember(prisma, { teamId: teamA, userId: users[role], role });
  teamB = (await createTeam(prisma, { name: "Other", ownerId: users.outsider })).id;
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

describe("the signing secret", () => {
  test("made on the first save and returned by that action only; stored sealed; absent from the page data and the rendered props", async () => {
    const first = await call("admin", "saveNotificationSettingsAction", VALID());
    expect(first.ok).toBe(true);
    const secret = first.ok ? first.data.secret : null;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const stored = await row();
    expect(stored).toMatchObject({ webhookUrl: "https://hooks.example.com/portcullis", webhookFormat: "slack", emailApprovers: false, updatedBy: users.admin });
    expect(stored!.webhookSecretCiphertext).toBeTruthy();
    expect(JSON.stringify(stored)).not.toContain(secret!);

    // The page's data and everything the section renders (props of every element, the form's included).
    const ctx = await resolveTeam({ userId: users.owner }, teamA);
    const { notificationSettingsView } = await import("../src/features/notifications/operations");
    const view = await notificationSettingsView(ctx);
    expect(view).toEqual({ webhookUrl: "https://hooks.example.com/portcullis", webhookFormat: "slack", emailApprovers: false, hasSecret: true });
    const { NotificationsSection } = await import("../src/features/notifications/notifications-section");
    const tree = JSON.stringify(await NotificationsSection({ ctx }));
    expect(tree).toContain("hooks.example.com");
    expect(tree).not.toContain(secret!);
    expect(tree).not.toContain(stored!.webhookSecretCiphertext!);

    // Saving again keeps the secret and does not show it.
    const again = await call("owner", "saveNotificationSettingsAction", { ...VALID(), emailApprovers: true });
    expect(again).toMatchObject({ ok: true, data: { secret: null } });
    expect((await row())!.webhookSecretCiphertext).toBe(stored!.webhookSecretCiphertext);

    // Rotation: a new secret, shown once, the stored one replaced.
    const rotated = await call("owner", "rotateWebhookSecretAction", { teamId: teamA });
    const next = rotated.ok ? rotated.data.secret : null;
    expect(next).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(next).not.toBe(secret);
    expect((await row())!.webhookSecretCiphertext).not.toBe(stored!.webhookSecretCiphertext);
    expect(JSON.stringify(await NotificationsSection({ ctx }))).not.toContain(next!);
  });

  test("removing the webhook drops its secret; rotating then has nothing to rotate", async () => {
    expect(await call("owner", "saveNotificationSettingsAction", { ...VALID(), webhookUrl: null })).toMatchObject({ ok: true, data: { secret: null } });
    expect(await row()).toMatchObject({ webhookUrl: null, webhookSecretCiphertext: null });
    expect(await call("owner", "rotateWebhookSecretAction", { teamId: teamA })).toMatchObject({ ok: false, code: "invalid_input" });
  });
});

describe("who may, and what", () => {
  test("members and viewers are refused, another team's owner finds nothing; the row is unchanged", async () => {
    await call("owner", "saveNotificationSettingsAction", VALID());
    const before = JSON.stringify(await row());
    expect(await call("member", "saveNotificationSettingsAction", { ...VALID(), webhookUrl: "https://evil.example.com/" })).toMatchObject({ ok: false, code: "forbidden" });
    expect(await call("viewer", "rotateWebhookSecretAction", { teamId: teamA })).toMatchObject({ ok: false, code: "forbidden" });
    expect(await call("outsider", "saveNotificationSettingsAction", { ...VALID(), webhookUrl: "https://evil.example.com/" })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("outsider", "rotateWebhookSecretAction", { teamId: teamA })).toMatchObject({ ok: false, code: "not_found" });
    expect(JSON.stringify(await row())).toBe(before);
  });

  test("URLs that are not https, carry credentials or are not URLs are field errors; nothing saved", async () => {
    const before = JSON.stringify(await row());
    for (const url of ["http://hooks.example.com/x", "javascript:alert(1)", "https://user:pw@hooks.example.com/", "not a url", `https://x.example.com/${"a".repeat(3000)}`]) {
      const result = await call("owner", "saveNotificationSettingsAction", { ...VALID(), webhookUrl: url });
      expect(result, url).toMatchObject({ ok: false, code: "invalid_input" });
      expect(result.ok ? undefined : result.fieldErrors?.webhookUrl, url).toBeTruthy();
    }
    for (const format of ["teams", { not: "x" }, ["slack"]]) {
      expect(await call("owner", "saveNotificationSettingsAction", { ...VALID(), webhookFormat: format })).toMatchObject({ ok: false, code: "invalid_input" });
    }
    expect(await call("owner", "saveNotificationSettingsAction", { ...VALID(), secret: "mine" })).toMatchObject({ ok: false, code: "invalid_input" });
    expect(JSON.stringify(await row())).toBe(before);
  });

  test("the delivery log shows this team's deliveries only, newest first, with attempts and the last error", async () => {
    const { recordDelivery } = await import("@portcullis/db/operations");
    const ours = await recordDelivery(prisma, { teamId: teamA, event: "write_request.created", subjectId: randomUUID(), channel: "webhook", target: "https://hooks.example.com/portcullis" } as never);
    await recordDelivery(prisma, { teamId: teamB, event: "write_request.created", subjectId: randomUUID(), channel: "email", target: "them@example.com" } as never);
    await prisma.notificationDelivery.update({ where: { id: ours.id }, data: { status: "failed", attempts: 6, lastError: "HTTP 500 from the receiver" } });
    const { recentDeliveries } = await import("../src/features/notifications/operations");
    const list = await recentDeliveries(await resolveTeam({ userId: users.admin }, teamA));
    expect(list.map((d) => d.target)).toEqual(["https://hooks.example.com/portcullis"]);
    expect(list[0]).toMatchObject({ status: "failed", attempts: 6, lastError: "HTTP 500 from the receiver", channel: "webhook" });
    await expect(recentDeliveries(await resolveTeam({ userId: users.member }, teamA))).rejects.toMatchObject({ code: "forbidden" });
  });
});
