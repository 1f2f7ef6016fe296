import NextAuth from "next-auth";
import { authOptions } from "@/lib/auth";

type RouteContext = { params: Promise<{ nextauth: string[] }> };

// next-auth v4 reads `context.params.nextauth` synchronously; Next 16 hands params as a promise.
async function handler(req: Request, context: RouteContext) {
  const params = await context.params;
  return NextAuth(authOptions())(req as never, { params } as never);
}

export { handler as GET, handler as POST };
