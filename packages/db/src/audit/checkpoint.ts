import { timingSafeEqual } from "node:crypto";
import type pg from "pg";
import { type ChainKey, hmacHex } from "./chain-key.js";

/**
 * Checkpoints of each team's chain head, kept outside the metadata database.
 *
 * Why: the chain alone proves that what is stored links up, not that nothing was cut off its end.
 * Someone who can write the metadata database deletes the newest N events, sets the head back to the
 * new last event, and the chain verifies. A copy of the head kept elsewhere, signed with the chain key
 * (which the database does not hold), catches it: the checkpoint names a seq the database no longer
 * has, or a hash it no longer has at that seq.
 *
 * Where: Redis, not a file under the data directory. Every worker and every verifier (CLI, dashboard)
 * already reach the same Redis wherever they run, while a file would only exist on the host of the
 * worker that wrote it (several workers on several hosts each hold a part). Redis is a different
 * service with its own credentials, so the attacker this defends against (write access to the
 * metadata database) cannot rewind it; one who controls Redis too could only replay an older
 * checkpoint (making the check weaker, never making a forged chain pass), since every checkpoint is
 * signed. A checkpoint is written after each batch commits and only moves forward (a Lua compare), so
 * two writers finishing out of order never rewind it; it moves from the head the batch started at, or
 * after the database is shown to still hold it. When it does not (the chain was cut or rewritten under
 * it), the old checkpoint is kept as signed evidence before moving on: events that keep landing after a
 * truncation cannot erase it. Losing Redis loses only this extra check: verify then says so.
 */
export interface Checkpoint {
  teamId: string;
  seq: string;
  hash: string;
  /** When the worker signed it (ISO time). */
  at: string;
  mac: string;
}

/** What checkpoints need of a Redis client (ioredis satisfies it). */
export interface CheckpointRedis {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, string>>;
}

export const checkpointKey = (teamId: string) => `portcullis:audit-checkpoint:${teamId.toLowerCase()}`;

function macOf(key: ChainKey, c: Omit<Checkpoint, "mac">): string {
  return hmacHex(key, `pc-audit-checkpoint-v1\n${c.teamId.toLowerCase()}\n${c.seq}\n${c.hash}\n${c.at}`);
}

export function signCheckpoint(key: ChainKey, c: Omit<Checkpoint, "mac">): Checkpoint {
  return { ...c, teamId: c.teamId.toLowerCase(), mac: macOf(key, c) };
}

export function checkpointSignatureValid(key: ChainKey, c: Checkpoint): boolean {
  const expected = Buffer.from(macOf(key, c));
  const actual = Buffer.from(c.mac);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * A checkpoint the chain no longer contains, found by the worker when it was about to move past it:
 * the evidence of a rewrite is kept (signed as it was), so continuing the chain cannot erase it.
 */
export interface DivergedCheckpoint extends Checkpoint {
  detectedAt: string;
}

export const divergedKey = (teamId: string) => `portcullis:audit-checkpoint-diverged:${teamId.toLowerCase()}`;

// Forward only, and only from the head the batch started at: a checkpoint that is not the batch's
// starting point (another batch moved it, or the chain was rewritten under it) is answered with 2 and
// the current checkpoint, and the caller checks it against the database before forcing the write.
const ADVANCE = `
local cur = redis.call('HMGET', KEYS[1], 'seq', 'hash', 'at', 'mac')
if cur[1] then
  if tonumber(cur[1]) >= tonumber(ARGV[1]) then return {0} end
  if ARGV[8] ~= 'force' and not (cur[1] == ARGV[6] and cur[2] == ARGV[7]) then return {2, cur[1], cur[2], cur[3], cur[4]} end
end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'hash', ARGV[2], 'at', ARGV[3], 'mac', ARGV[4], 'teamId', ARGV[5])
return {1}`;

export interface HeadMove {
  teamId: string;
  seq: string;
  hash: string;
  /** The head the batch started from (as locked): a checkpoint equal to it is continued without a query. */
  from: { seq: string; hash: string };
}

/** Whether the chain still holds `cp` (the event at cp.seq has cp.hash, or retention removed it). */
export type CheckpointHolds = (cp: Checkpoint) => Promise<boolean>;

/**
 * Moves each team's checkpoint to its new head. Returns the checkpoints found diverged (each also kept
 * under divergedKey, so `verifyAuditChain` reports the rewrite however far the chain has moved on).
 */
export async function writeCheckpoints(
  redis: CheckpointRedis & { lpush(key: string, ...values: string[]): Promise<number> },
  key: ChainKey,
  heads: readonly HeadMove[],
  holds: CheckpointHolds,
  now = new Date(),
): Promise<DivergedCheckpoint[]> {
  const diverged: DivergedCheckpoint[] = [];
  await Promise.all(
    heads.map(async (h) => {
      const c = signCheckpoint(key, { teamId: h.teamId, seq: h.seq, hash: h.hash, at: now.toISOString() });
      const args = (mode: string) => [c.seq, c.hash, c.at, c.mac, c.teamId, h.from.seq, h.from.hash, mode];
      const result = (await redis.eval(ADVANCE, 1, checkpointKey(c.teamId), ...args("normal"))) as (number | string)[];
      if (Number(result[0]) !== 2) return;
      const [, seq, hash, at, mac] = result as [number, string, string, string, string];
      const current: Checkpoint = { teamId: c.teamId, seq, hash, at, mac };
      if (!(await holds(current))) {
        const evidence: DivergedCheckpoint = { ...current, detectedAt: now.toISOString() };
        await redis.lpush(divergedKey(c.teamId), JSON.stringify(evidence));
        diverged.push(evidence);
      }
      await redis.eval(ADVANCE, 1, checkpointKey(c.teamId), ...args("force"));
    }),
  );
  return diverged;
}

export async function readCheckpoint(redis: CheckpointRedis, teamId: string): Promise<Checkpoint | null> {
  const h = await redis.hgetall(checkpointKey(teamId));
  if (!h.seq || !h.hash || !h.at || !h.mac) return null;
  return { teamId: teamId.toLowerCase(), seq: h.seq, hash: h.hash, at: h.at, mac: h.mac };
}

/** The checkpoints the worker found diverged (newest first, at most `limit`). */
export async function readDivergedCheckpoints(
  redis: { lrange(key: string, start: number, stop: number): Promise<string[]> },
  teamId: string,
  limit = 100,
): Promise<DivergedCheckpoint[]> {
  const raw = await redis.lrange(divergedKey(teamId), 0, limit - 1);
  const out: DivergedCheckpoint[] = [];
  for (const line of raw) {
    try {
      const v = JSON.parse(line) as DivergedCheckpoint;
      if (typeof v.seq === "string" && typeof v.hash === "string" && typeof v.at === "string" && typeof v.mac === "string") out.push({ ...v, teamId: teamId.toLowerCase() });
    } catch {
      // Not ours (someone wrote Redis): verify reports only signed evidence.
    }
  }
  return out;
}

/** CheckpointHolds over the metadata database: one indexed lookup, made only when continuity is not already proven. */
export function checkpointHoldsIn(pool: pg.Pool): CheckpointHolds {
  return async (cp) => {
    const { rows } = await pool.query<{ hash: string | null; pruned: string | null }>(
      `SELECT (SELECT hash FROM audit_events WHERE team_id = $1::uuid AND seq = $2::int8) AS hash,
              (SELECT pruned_through_seq::text FROM audit_chain_anchors WHERE team_id = $1::uuid) AS pruned`,
      [cp.teamId, cp.seq],
    );
    const row = rows[0]!;
    if (row.hash !== null) return row.hash === cp.hash;
    // Removed by retention: nothing left to compare (the signed anchor vouches for the cut).
    return row.pruned !== null && BigInt(row.pruned) >= BigInt(cp.seq);
  };
}
