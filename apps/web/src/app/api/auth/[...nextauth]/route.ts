import NextAuth from "next-auth";
import { z } from "zod";
import { authOptions } from "@/lib/auth";

type RouteContext = { params: Promise<{ nextauth: string[] }> };

// next-auth's own paths are a handful of short segments (signin/credentials, callback/github, …).
const paramsSchema = z.strictObject({ nextauth: z.array(z.string().min(1).max(64)).min(1).max(3) });

// next-auth v4 reads `context.params.nextauth` synchronously; Next 16 hands params as a promise.
async function handler(req: Request, context: RouteContext) {
  const params = paramsSchema.safeParse(await context.params);
  if (!params.success) return new Response("Not found", { status: 404, headers: { "cache-control": "no-store" } });
  return NextAuth(authOptions())(req as never, { params: params.data } as never);
}

export { handler as GET, handler as POST };
