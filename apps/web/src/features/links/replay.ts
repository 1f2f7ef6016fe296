import { PortcullisError } from "@portcullis/db/errors";
import { replayStatements } from "@portcullis/db/operations";
import { createPolicyChecker, parseScope, replayScope, type ReplayReport } from "@portcullis/policy";
import { requireRole, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { hitRateLimit } from "../../lib/rate-limit";
import { requireValidScope } from "./operations";
import { boundCalls } from "./replay-bound";
import { connectionCatalog } from "./target-catalog";

/**
 * Replay before save: the link's audited statements of the last days, checked against the stored scope
 * and the draft with the same catalog (so only the scope's change shows), grouped by what changes.
 * Admin/owner only — the examples are the team's own audited SQL, which they read in Activity anyway.
 */
export const REPLAY_DAYS = [1, 7, 30] as const;
export type ReplayDays = (typeof REPLAY_DAYS)[number];
/** Calls replayed at most (the loader groups them by exact text in SQL; newest kept). */
export const REPLAY_MAX_CALLS = 100_000;

// A checker of its own: a replay checks up to thousands of distinct texts twice, and must not evict
// the previews' verdicts (or anything else's). Sized for one replay's distinct texts under both scopes.
const checker = createPolicyChecker({ cacheSize: 4000 });

// Each replay reads up to 100k audit rows and parses every distinct text: bounded per admin.
const REPLAYS_PER_MINUTE = 6;

export interface ReplayResult extends ReplayReport {
  days: ReplayDays;
  /** The loader stopped at REPLAY_MAX_CALLS calls: older calls of the window were not replayed. */
  truncated: boolean;
  /** Reading and grouping the audit events, in ms (the policy's own time is durationMs). */
  loadMs: number;
  totalMs: number;
}

export async function replayDraftScope(ctx: TeamContext, input: { linkId: string; scope: unknown; days: ReplayDays }): Promise<ReplayResult> {
  requireRole(ctx, "admin");
  const limit = await hitRateLimit(`scope-replay:user:${ctx.user.userId}`, REPLAYS_PER_MINUTE, 60);
  if (!limit.allowed) throw new PortcullisError("unavailable", `too many replays; try again in ${limit.retryAfterSeconds} s`);
  const started = performance.now();
  const prisma = getPrisma();
  const link = await prisma.link.findFirst({ where: { id: input.linkId, teamId: ctx.team.id }, include: { connection: true } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  const draft = requireValidScope(input.scope);
  const stored = parseScope(link.scope);
  // A stored scope the schema no longer accepts cannot be a baseline: say so rather than compare with a guess.
  if (!stored.ok) throw new PortcullisError("invalid_input", `the link's saved scope does not parse (${stored.errors[0]?.message ?? "invalid"}); fix it in the JSON view first`);
  const [catalog, rows] = await Promise.all([
    connectionCatalog(link.connection),
    replayStatements(prisma, { teamId: ctx.team.id, linkId: link.id, days: input.days, limit: REPLAY_MAX_CALLS }),
  ]);
  const loadMs = performance.now() - started;
  // The loader bounds distinct texts; the replay's bound is on calls, newest first.
  const bounded = boundCalls(rows, REPLAY_MAX_CALLS);
  const report = replayScope({ checker, catalog, current: stored.scope, draft, statements: bounded.rows });
  const result: ReplayResult = { ...report, days: input.days, truncated: bounded.truncated, loadMs: Math.round(loadMs), totalMs: Math.round(performance.now() - started) };
  await prisma.$transaction((tx) =>
    recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "link.scope.replay",
      target: { type: "link", id: link.id, name: link.name },
      after: { days: input.days, calls: result.calls, statements: result.statements, becameBlocked: sum(result.becameBlocked), becameAllowed: sum(result.becameAllowed), totalMs: result.totalMs },
      sourceIp: ctx.sourceIp,
    }),
  );
  return result;
}

const sum = (groups: { calls: number }[]) => groups.reduce((n, g) => n + g.calls, 0);
