import { randomUUID } from "node:crypto";
import type { ServerAction } from "../support/dashboard-surface";
import type { HttpActor } from "../support/attacker-http";
import { describeChange, diffSnapshots, judge, protectedIds, settle, snapshotMetadata, type RowChange, type Snapshot } from "../support/tenant-snapshot";
import { CANARY_PREFIX, SEEDED_TARGETS, VICTIM_MARKER, seedVictimWorld, targetChecksum, type ActorKind, type VictimWorld } from "../support/victim-world";
import { PASSWORD } from "../support/stack";
import { withoutWorkerBookkeeping } from "./bookkeeping";
import { payloadsFor, type Payload } from "./payloads";
import { VICTIM_PROVIDER_MARKER, ensureVictimProvider } from "./victim-provider";

export interface Finding {
  actor: ActorKind;
  action: string;
  kind: "effect" | "leak" | "server-error" | "target-changed" | "late-effect" | "unreached";
  detail: string;
  payloads: string[];
}

const CONCURRENCY = 6;

async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

/** A concrete page that holds the action (dynamic segments filled with something that exists). */
export function pageFor(action: ServerAction, slug: string, w: VictimWorld): string {
  const page = action.pages.find((p) => !p.includes("[token]")) ?? action.pages[0] ?? "/";
  return page.replace("[slug]", slug).replace("[id]", w.linkId).replace("[token]", "x").replace(/\[\.\.\.[^\]]+\]/, "x");
}

interface ActorState {
  kind: ActorKind;
  http: HttpActor;
  userId: string | null;
  ownTeamIds: string[];
  ownSlug: string;
}

/**
 * Puts the actor back where it started (signed in, its own team, its role in the victim team)
 * after an action that legitimately changed it — leaving a team, revoking its own session —
 * so every later action is attacked from the same position. Runs outside the judged window.
 */
async function heal(state: ActorState, w: VictimWorld): Promise<void> {
  if (state.kind === "signed-out") return;
  const { createPrismaClient } = await import("@portcullis/db/client");
  const { addMember, createTeam } = await import("@portcullis/db/operations");
  const prisma = createPrismaClient(process.env.DATABASE_URL!);
  try {
    if (state.kind === "outsider") {
      const owned = await prisma.membership.findFirst({ where: { userId: state.userId!, role: "owner" } });
      if (!owned) {
        const team = await createTeam(prisma, { name: `Mallory again ${randomUUID().slice(0, 6)}`, ownerId: state.userId! });
        state.ownTeamIds.push(team.id);
        state.ownSlug = team.slug;
      }
    } else {
      const role = state.kind;
      const m = await prisma.membership.findUnique({ where: { teamId_userId: { teamId: w.teamId, userId: state.userId! } } });
      if (!m || m.role !== role) await addMember(prisma, { teamId: w.teamId, userId: state.userId!, role });
    }
  } finally {
    await prisma.$disconnect();
  }
  // A fresh session every time: a hostile payload may have revoked the actor's own session, which
  // the JWT cookie alone does not show (the server checks the session row).
  await state.http.signIn(PASSWORD);
}

/**
 * What came back that the actor must not see: any canary (no actor owns one), and for people outside
 * the victim team any name or e-mail of a victim object — unless the attacker sent it themselves.
 */
export function leaks(kind: ActorKind | "outsider-route", text: string, sent: string, ownCanary?: string): string[] {
  const found: string[] = [];
  // An admin of the victim team may read the team's own canary through the team's admin link.
  if (ownCanary) text = text.split(ownCanary).join("");
  if (text.includes(CANARY_PREFIX)) found.push(`a canary (${text.slice(text.indexOf(CANARY_PREFIX), text.indexOf(CANARY_PREFIX) + 20)}…)`);
  if (kind !== "viewer" && kind !== "member" && kind !== "admin") {
    for (const m of [...(text.match(VICTIM_MARKER) ?? []), ...(text.match(VICTIM_PROVIDER_MARKER) ?? [])]) {
      const at = text.indexOf(m);
      if (!sent.includes(m) && !found.some((f) => f.startsWith(m))) found.push(`${m} in …${text.slice(Math.max(0, at - 120), at + m.length + 40)}…`);
    }
  }
  return found;
}

/** A body that is not a JSON array fails in Next's own argument decoder, before any of our code. */
const FRAMEWORK_DECODER_CASES = new Set(["body: not JSON"]);

/**
 * Admins may change almost everything of their team; what they must not touch is the owner's: the
 * team itself, the owner, who is an admin (appointing, demoting, removing or inviting admins), and
 * keys that would act as the owner or another admin.
 */
function adminViolations(changes: RowChange[], w: VictimWorld, actorId: string | null): RowChange[] {
  const high = (r: RowChange["before"]) => r?.role === "admin" || r?.role === "owner";
  return changes.filter((ch) => {
    const row = (ch.after ?? ch.before)!;
    if (ch.table === "memberships" && row.team_id === w.teamId && row.user_id !== actorId && (high(ch.before) || high(ch.after))) return true;
    if (ch.table === "invitations" && ch.kind === "added" && row.team_id === w.teamId && high(ch.after)) return true;
    // A key acts as its holder: an admin issuing one for the owner or another admin acts as them.
    if (ch.table === "api_keys" && ch.kind === "added" && (row.user_id === w.ownerId || row.user_id === w.peerAdminId)) return true;
    if (ch.table === "teams" && row.id === w.teamId && ch.kind === "removed") return true;
    if (ch.table === "memberships" && row.user_id === w.ownerId) return true;
    if ((ch.table === "users" && row.id === w.ownerId) || (ch.table === "sessions" && row.user_id === w.ownerId)) return true;
    return false;
  });
}

export async function attackActions(opts: {
  kind: ActorKind;
  actions: ServerAction[];
  vocabulary: string[];
  world: VictimWorld;
  log: (line: string) => void;
}): Promise<Finding[]> {
  const { kind } = opts;
  let w = opts.world;
  const findings: Finding[] = [];
  const stateOf = (world: VictimWorld): ActorState => ({
    kind,
    http: world.actors[kind],
    userId: world.userIds[kind],
    ownTeamIds: kind === "outsider" ? [world.outsider.teamId] : [],
    ownSlug: kind === "outsider" ? world.outsider.slug : world.slug,
  });
  let state = stateOf(w);
  let sentSoFar = "";
  const metaUrl = process.env.DATABASE_URL!;
  let before: Snapshot;
  await settle(metaUrl);
  let lastAfter: Snapshot = await snapshotMetadata(metaUrl);
  for (const action of opts.actions) {
    await heal(state, w);
    await ensureVictimProvider(w);
    before = await snapshotMetadata(metaUrl);
    const checksum = await targetChecksum(w.targetUrl);
    const attackerTeam = kind === "outsider" ? state.ownTeamIds[state.ownTeamIds.length - 1]! : null;
    const payloads = payloadsFor(action, opts.vocabulary, w, attackerTeam);
    const page = pageFor(action, state.ownSlug, w);
    // What the attacker sent may come back later on its own pages (an invitation to the victim's
    // e-mail lists that e-mail): only what it never sent counts as a leak.
    sentSoFar += payloads.map((p) => (typeof p.args === "string" ? p.args : JSON.stringify(p.args))).join("\n");
    const replies = await pool(payloads, CONCURRENCY, async (p: Payload) => {
      try {
        return { p, reply: await state.http.callAction(action.id, page, p.args) };
      } catch (error) {
        return { p, reply: { status: 0, text: `request failed: ${(error as Error).message}`, result: null, ms: 0 } };
      }
    });
    const after = await snapshotMetadata(metaUrl);
    lastAfter = after;
    const changes = withoutWorkerBookkeeping(diffSnapshots(before, after));
    const ids = protectedIds(before, { userId: state.userId, ownTeamIds: state.ownTeamIds });
    const violations = kind === "admin" ? adminViolations(changes, w, state.userId) : judge(changes, ids, state.userId);
    const succeeded = replies.filter((r) => r.reply.status === 200 && /"ok":true/.test(r.reply.text)).map((r) => r.p.label);
    if (violations.length) {
      findings.push({ actor: kind, action: action.name, kind: "effect", detail: violations.map(describeChange).join("\n    "), payloads: succeeded });
    }
    for (const r of replies) {
      const leaked = leaks(kind, r.reply.text, sentSoFar, kind === "admin" ? w.canary : undefined);
      if (leaked.length) findings.push({ actor: kind, action: action.name, kind: "leak", detail: `response carried ${leaked.join(", ")}`, payloads: [r.p.label] });
      if ((r.reply.status >= 500 && !FRAMEWORK_DECODER_CASES.has(r.p.label)) || r.reply.status === 0) {
        findings.push({ actor: kind, action: action.name, kind: "server-error", detail: `HTTP ${r.reply.status}: ${r.reply.text.slice(0, 160).replace(/\s+/g, " ")}`, payloads: [r.p.label] });
      }
    }
    // Every action must have answered as an action (a result with `ok`), or the suite was not
    // attacking it at all (wrong page, a changed wire protocol) and its silence would prove nothing.
    if (!replies.some((r) => r.reply.result && typeof r.reply.result === "object" && "ok" in r.reply.result)) {
      findings.push({ actor: kind, action: action.name, kind: "unreached", detail: `no payload got an action result (first answer: HTTP ${replies[0]?.reply.status} ${replies[0]?.reply.text.slice(0, 120)})`, payloads: [] });
    }
    if ((await targetChecksum(w.targetUrl)) !== checksum) {
      findings.push({ actor: kind, action: action.name, kind: "target-changed", detail: "the victim's target database changed", payloads: succeeded });
    }
    opts.log(`${kind} ${action.name}: ${payloads.length} payloads, ${succeeded.length} ok, ${violations.length} protected rows changed`);
    // A damaged victim (links deleted, connection gone) would hide what later actions can do: the
    // next action is attacked against a fresh world (older worlds stay protected and judged).
    // (An admin's legitimate changes count as damage too: a deleted connection takes the links with it.)
    if (violations.length || judge(changes, ids, state.userId).length) {
      w = await seedVictimWorld();
      state = stateOf(w);
      sentSoFar = "";
    }
  }
  // A statement through an older world's link lands in that world's database: every target seeded
  // in this run must still be as it was seeded (an admin's own worlds aside: it may write there).
  if (kind !== "admin") {
    for (const [url, seeded] of SEEDED_TARGETS) {
      if ((await targetChecksum(url)) !== seeded) {
        findings.push({ actor: kind, action: "(any action of this run)", kind: "target-changed", detail: `a victim's target database changed: ${new URL(url).pathname.slice(1)}`, payloads: [] });
        SEEDED_TARGETS.set(url, await targetChecksum(url));
      }
    }
  }
  // Audit rows arrive through the queue: whatever lands after the last action is judged here.
  await new Promise((r) => setTimeout(r, 2500));
  const settled = await snapshotMetadata(metaUrl);
  const late = withoutWorkerBookkeeping(diffSnapshots(lastAfter, settled)).filter((ch) => ch.table.startsWith("audit"));
  const lateIds = protectedIds(lastAfter, { userId: state.userId, ownTeamIds: state.ownTeamIds });
  const lateViolations = kind === "admin" ? [] : judge(late, lateIds, state.userId);
  if (lateViolations.length) {
    findings.push({ actor: kind, action: "(queued effects of this actor's run)", kind: "late-effect", detail: lateViolations.slice(0, 5).map(describeChange).join("\n    "), payloads: [] });
  }
  return findings;
}

export function formatFindings(findings: Finding[]): string {
  return findings.map((f) => `[${f.actor}] ${f.action} — ${f.kind}: ${f.detail}${f.payloads.length ? `\n    payloads answered ok: ${f.payloads.join("; ")}` : ""}`).join("\n");
}
