import { QUEUES, listDeadLetters, replayDeadLetters, type DeadLetter } from "@portcullis/jobs";
import type { Queue } from "bullmq";
import { requireRole, type TeamContext } from "../../lib/authz";
import { recordConfigChange } from "../../lib/config-audit";
import { getPrisma } from "../../lib/db";
import { queue, withQueueTimeout } from "../../lib/redis";

/** Letters read per round trip, and at most this many (newest first) per request. */
const PAGE = 500;
export const SCAN_LIMIT = 10_000;

export interface DeadLetterView {
  id: string;
  failedAt: string;
  failedReason: string;
  attemptsMade: number;
  event: { time: string | null; kind: string | null; tool: string | null; verdict: string | null; sql: string | null };
}

const text = (v: unknown, max = 300): string | null => (typeof v === "string" ? (v.length > max ? `${v.slice(0, max)}…` : v) : null);

/** The team a letter's event belongs to, or null when the event is too malformed to say. */
export function letterTeamId(letter: DeadLetter): string | null {
  const event = letter.event;
  return event && typeof event === "object" && typeof (event as { teamId?: unknown }).teamId === "string" ? (event as { teamId: string }).teamId : null;
}

/**
 * This team's dead letters, newest first. The dead-letter queue is shared by every team (the worker
 * moves failed jobs there as they are), so each letter is matched on its event's teamId and nothing
 * else ever leaves this function. Letters whose event has no readable teamId belong to no team: only
 * an operator sees them (in Redis, through the worker's enqueue helpers). The scan is bounded: dead
 * letters are rare, and a queue of more than SCAN_LIMIT is an outage for the operator, not a page.
 */
async function scanTeamLetters(deadLetters: Queue, teamId: string) {
  const mine: { id: string; letter: DeadLetter }[] = [];
  for (let start = 0; start < SCAN_LIMIT; start += PAGE) {
    const page = await withQueueTimeout(listDeadLetters(deadLetters, start, start + PAGE - 1));
    for (const entry of page) if (letterTeamId(entry.letter) === teamId) mine.push(entry);
    // Not "a short page ends it": a letter replayed between BullMQ's range read and its fetch
    // shortens a page that has more behind it. An empty page is the end.
    if (page.length === 0) return { mine, truncated: false };
  }
  return { mine, truncated: true };
}

function toView({ id, letter }: { id: string; letter: DeadLetter }): DeadLetterView {
  const e = (letter.event && typeof letter.event === "object" ? letter.event : {}) as Record<string, unknown>;
  return {
    id,
    failedAt: letter.failedAt,
    failedReason: text(letter.failedReason, 1000) ?? "unknown",
    attemptsMade: letter.attemptsMade,
    event: { time: text(e.time), kind: text(e.kind), tool: text(e.tool), verdict: text(e.verdict), sql: text(e.sql) },
  };
}

/** The Settings page's "Audit pipeline": how many of this team's events failed ingestion, and the latest. */
export async function teamDeadLetters(ctx: TeamContext, limit = 20) {
  requireRole(ctx, "admin");
  const { mine, truncated } = await scanTeamLetters(queue(QUEUES.auditDeadLetter), ctx.team.id);
  mine.sort((a, b) => (a.letter.failedAt < b.letter.failedAt ? 1 : a.letter.failedAt > b.letter.failedAt ? -1 : 0));
  return { count: mine.length, truncated, letters: mine.slice(0, limit).map(toView) };
}

/**
 * Sends this team's dead letters back to the audit queue (after the cause is fixed). Only ids found
 * under this team are passed on, so another team's letters stay where they are. Safe to repeat:
 * ingestion stores each event id once.
 */
export async function replayTeamDeadLetters(ctx: TeamContext): Promise<{ replayed: number }> {
  requireRole(ctx, "admin");
  const deadLetters = queue(QUEUES.auditDeadLetter);
  const { mine } = await scanTeamLetters(deadLetters, ctx.team.id);
  if (mine.length === 0) return { replayed: 0 };
  const replayed = await withQueueTimeout(
    replayDeadLetters(deadLetters, queue(QUEUES.audit), mine.map((m) => m.id)),
    30_000,
  );
  // Recorded after the fact: the replay lives in Redis, outside any database transaction.
  await getPrisma().$transaction((tx) =>
    recordConfigChange(tx, {
      teamId: ctx.team.id, actorUserId: ctx.user.userId, action: "audit.dead_letters.replay",
      target: { type: "team", id: ctx.team.id, name: ctx.team.name }, after: { replayed, letterIds: mine.map((m) => m.id).slice(0, 500) }, sourceIp: ctx.sourceIp,
    }),
  );
  return { replayed };
}
