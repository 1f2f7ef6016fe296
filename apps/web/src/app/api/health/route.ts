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
      .catch((error: Error) => (checks.database = error.message.slice(0, 200))),
    Promise.race([getRedis().ping(), new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 2000))])
      .then(() => (checks.redis = "ok"))
      .catch((error: Error) => (checks.redis = error.message.slice(0, 200))),
  ]);
  const ok = Object.values(checks).every((v) => v === "ok");
  return Response.json({ ok, checks }, { status: ok ? 200 : 503, headers: { "cache-control": "no-store" } });
}
