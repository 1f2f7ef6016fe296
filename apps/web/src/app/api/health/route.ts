import { getPrisma } from "@/lib/db";

// Liveness and readiness for scripts/up.sh and load balancers: 200 when the metadata database answers.
export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  try {
    await getPrisma().$queryRaw`SELECT 1`;
    return Response.json({ ok: true });
  } catch {
    return Response.json({ ok: false, error: "metadata database unreachable" }, { status: 503 });
  }
}
