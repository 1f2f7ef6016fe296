import type { NextAuthOptions } from "next-auth";
import type { Provider } from "next-auth/providers/index";
import CredentialsProvider from "next-auth/providers/credentials";
import GitHubProvider from "next-auth/providers/github";
import GoogleProvider from "next-auth/providers/google";
import { normalizeEmail } from "@portcullis/db/operations";
import { checkCredentials } from "../features/auth/credentials";
import { getPrisma } from "./db";
import { env } from "./env";

const SESSION_MAX_AGE = 30 * 24 * 60 * 60;

export function clientIp(headers: Record<string, unknown> | Headers | undefined): string {
  const get = (name: string) =>
    headers instanceof Headers ? headers.get(name) : (headers?.[name] as string | undefined);
  return (get("x-forwarded-for")?.split(",")[0]?.trim() || get("x-real-ip") || "unknown").slice(0, 64);
}

export function oauthProviders(): { id: string; name: string }[] {
  const e = env();
  return [
    ...(e.GITHUB_ID && e.GITHUB_SECRET ? [{ id: "github", name: "GitHub" }] : []),
    ...(e.GOOGLE_ID && e.GOOGLE_SECRET ? [{ id: "google", name: "Google" }] : []),
  ];
}

function providers(): Provider[] {
  const e = env();
  const list: Provider[] = [
    CredentialsProvider({
      id: "credentials",
      name: "Email and password",
      credentials: { email: { label: "Email", type: "email" }, password: { label: "Password", type: "password" } },
      async authorize(credentials, req) {
        const result = await checkCredentials(credentials?.email ?? "", credentials?.password ?? "", clientIp(req?.headers));
        // next-auth passes a thrown message to the client as `error`: the form shows it as is.
        if (!result.ok) throw new Error(result.error);
        return { id: result.user.id, email: result.user.email, name: result.user.name };
      },
    }),
  ];
  if (e.GITHUB_ID && e.GITHUB_SECRET) list.push(GitHubProvider({ clientId: e.GITHUB_ID, clientSecret: e.GITHUB_SECRET }));
  if (e.GOOGLE_ID && e.GOOGLE_SECRET) list.push(GoogleProvider({ clientId: e.GOOGLE_ID, clientSecret: e.GOOGLE_SECRET }));
  return list;
}

/**
 * JWT sessions (no adapter: next-auth v4's adapters do not fit our schema), each backed by a row in
 * `sessions` whose id travels in the token. getSessionUser() checks that row on every request, so
 * signing out — or an operator revoking a session — takes effect at once, not at JWT expiry.
 * Cookies are __Secure-/__Host- prefixed and HttpOnly whenever the public URL is https, and every
 * next-auth POST carries its double-submit CSRF token.
 */
export function authOptions(): NextAuthOptions {
  const e = env();
  return {
    secret: e.NEXTAUTH_SECRET,
    session: { strategy: "jwt", maxAge: SESSION_MAX_AGE },
    useSecureCookies: e.publicUrl.startsWith("https://"),
    pages: { signIn: "/sign-in", error: "/sign-in" },
    providers: providers(),
    callbacks: {
      async signIn({ user, account, profile }) {
        if (!account || account.provider === "credentials") return true;
        // External identities are linked to a user by verified email; one is created on first sign-in.
        // Linking by email is only safe when the provider vouches for the address: otherwise anyone
        // could claim a victim's email at the provider and land in the victim's account.
        if (account.provider === "google" && (profile as { email_verified?: boolean } | undefined)?.email_verified !== true) {
          return "/sign-in?error=" + encodeURIComponent("Your Google email address is not verified.");
        }
        const email = normalizeEmail(user.email ?? (profile as { email?: string } | undefined)?.email ?? "");
        if (!email) return "/sign-in?error=" + encodeURIComponent("Your provider did not share an email address.");
        const prisma = getPrisma();
        const existing = await prisma.account.findUnique({
          where: { provider_providerAccountId: { provider: account.provider, providerAccountId: account.providerAccountId } },
        });
        if (existing) return true;
        const owner =
          (await prisma.user.findUnique({ where: { email } })) ??
          (await prisma.user.create({ data: { email, name: user.name ?? null, emailVerifiedAt: new Date() } }));
        await prisma.account.create({
          data: { userId: owner.id, provider: account.provider, providerAccountId: account.providerAccountId },
        });
        return true;
      },
      async jwt({ token, user, account, trigger }) {
        if (trigger === "signIn" && user && account) {
          const prisma = getPrisma();
          let userId = user.id;
          if (account.provider !== "credentials") {
            const linked = await prisma.account.findUnique({
              where: { provider_providerAccountId: { provider: account.provider, providerAccountId: account.providerAccountId } },
            });
            if (!linked) throw new Error("account not linked");
            userId = linked.userId;
          }
          const session = await prisma.session.create({
            data: { userId, expiresAt: new Date(Date.now() + SESSION_MAX_AGE * 1000) },
          });
          token.uid = userId;
          token.sid = session.id;
        }
        return token;
      },
      async session({ session, token }) {
        if (session.user) (session.user as { id?: string }).id = token.uid as string;
        return session;
      },
    },
    events: {
      async signOut({ token }) {
        if (token?.sid) {
          await getPrisma().session.updateMany({ where: { id: token.sid as string, revokedAt: null }, data: { revokedAt: new Date() } });
        }
      },
    },
  };
}
