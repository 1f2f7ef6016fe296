/**
 * Rate limits count in fixed wall-clock minutes (auth/rate-limit.ts, auth/pre-auth-limits.ts): a burst
 * that straddles a minute's end is counted in two windows and admits more than the limit. Tests that
 * count up to a limit start clear of the last seconds of a minute.
 */
export async function awayFromMinuteEnd(marginMs = 12_000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 200));
}
