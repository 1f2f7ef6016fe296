import { timingSafeEqual } from "node:crypto";
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
 * signed. A checkpoint is written after each batch commits, and only moves forward (a Lua compare),
 * so two writers finishing out of order never rewind it. Losing Redis loses only this extra check:
 * verify then says there is no checkpoint.
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

// Only forward: a checkpoint is replaced only by one with a higher seq.
const ADVANCE = `
local cur = redis.call('HGET', KEYS[1], 'seq')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'hash', ARGV[2], 'at', ARGV[3], 'mac', ARGV[4], 'teamId', ARGV[5])
return 1`;

export async function writeCheckpoints(
  redis: CheckpointRedis,
  key: ChainKey,
  heads: readonly { teamId: string; seq: string; hash: string }[],
  now = new Date(),
): Promise<void> {
  await Promise.all(
    heads.map((h) => {
      const c = signCheckpoint(key, { teamId: h.teamId, seq: h.seq, hash: h.hash, at: now.toISOString() });
      return redis.eval(ADVANCE, 1, checkpointKey(c.teamId), c.seq, c.hash, c.at, c.mac, c.teamId);
    }),
  );
}

export async function readCheckpoint(redis: CheckpointRedis, teamId: string): Promise<Checkpoint | null> {
  const h = await redis.hgetall(checkpointKey(teamId));
  if (!h.seq || !h.hash || !h.at || !h.mac) return null;
  return { teamId: teamId.toLowerCase(), seq: h.seq, hash: h.hash, at: h.at, mac: h.mac };
}
