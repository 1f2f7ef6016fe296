/**
 * The replay's bound: at most `max` calls, the newest first. The loader returns distinct texts with
 * their call counts, newest text first; the text that crosses the bound keeps only the calls that fit
 * (its count is what is replayed), and everything older is left out. Pure (unit-tested).
 */
export function boundCalls<T extends { calls: number }>(rows: readonly T[], max: number): { rows: T[]; calls: number; truncated: boolean } {
  const kept: T[] = [];
  let calls = 0;
  for (const row of rows) {
    if (calls >= max) return { rows: kept, calls, truncated: true };
    const take = Math.min(row.calls, max - calls);
    kept.push(take === row.calls ? row : { ...row, calls: take });
    calls += take;
    if (take < row.calls) return { rows: kept, calls, truncated: true };
  }
  return { rows: kept, calls, truncated: false };
}
