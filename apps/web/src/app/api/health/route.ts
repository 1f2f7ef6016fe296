import { getPrisma } from "@/lib/db";
import { getRedis } from "@/lib/redis";

export const dynamic = "force-dynamic";

/** Readiness for load balancers and scripts/up.sh: the metadata database and Redis answer. */
export async function GET() {
  const checks: Record<string, "ok" | string> = {};
  await Promise.all([
    getPrisma()
      .$queryRawUnsafe("SELECT 1")
      .then(() => (checks.database = "ok"))
      // The cause goes to the log, not to an unauthenticated caller (it names hosts and users).
      .catch((error: Error) => {
        console.error("[web] health: database", error.message);
        checks.database = "unavailable";
      }),
    Promise.race([getRedis().ping(), new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 2000))])
      .then(() => (checks.redis = "ok"))
      .catch((error: Error) => {
        console.error("[web] health: redis", error.message);
        checks.redis = "unavailable";
      }),
  ]);
  const ok = Object.values(checks).every((v) => v === "ok");
  return Response.json({ ok, checks }, { status: ok ? 200 : 503, headers: { "cache-control": "no-store" } });
}
