import type { NextAuthOptions } from "next-auth";
import type { Provider } from "next-auth/providers/index";
import CredentialsProvider from "next-auth/providers/credentials";
import GitHubProvider from "next-auth/providers/github";
import GoogleProvider from "next-auth/providers/google";
import { clientIp as clientIpFrom } from "@portcullis/db/client-ip";
import { checkCredentials } from "../features/auth/credentials";
import { githubVerifiedEmail, resolveExternalSignIn } from "../features/auth/oauth-link";
import { getPrisma } from "./db";
import { env } from "./env";

const SESSION_MAX_AGE = 30 * 24 * 60 * 60;
let warnedNoPeer = false;

/**
 * The request's source address for rate limits, sign-in delays and session records. The socket's
 * peer comes from scripts/web-server.mjs (x-portcullis-peer, overwritten on every request, believed
 * only when that launcher started this process); TRUST_PROXY says how many X-Forwarded-For hops on
 * top of it are our own proxies. Under a bare `next start` the peer is unknowable: Next.js keeps a
 * client's X-Forwarded-For and only fills it in when absent, so its last entry is the best guess.
 */
export function clientIp(headers: Record<string, unknown> | Headers | undefined): string {
  const get = (name: string): string | undefined => {
    const value = headers instanceof Headers ? headers.get(name) : headers?.[name];
    return typeof value === "string" ? value : Array.isArray(value) ? value.join(",") : undefined;
  };
  const e = env();
  const forwarded = get("x-forwarded-for");
  if (e.PORTCULLIS_PEER_HEADER === "1") return clientIpFrom(get("x-portcullis-peer"), forwarded, e.TRUST_PROXY) ?? "unknown";
  if (!warnedNoPeer && e.NODE_ENV === "production") {
    warnedNoPeer = true;
    console.warn("[web] not started through scripts/web-server.mjs: client addresses come from X-Forwarded-For, which clients can write");
  }
  const entries = (forwarded ?? "").split(",");
  const peer = entries.pop();
  return clientIpFrom(peer, entries.join(","), e.TRUST_PROXY) ?? "unknown";
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
        // Which user an external identity becomes, and when it may be linked: features/auth/oauth-link.
        const claimed = user.email ?? (profile as { email?: string } | undefined)?.email ?? null;
        let email = claimed;
        let emailVerified = false;
        if (account.provider === "google") {
          emailVerified = (profile as { email_verified?: boolean } | undefined)?.email_verified === true;
        } else if (account.provider === "github") {
          email = await githubVerifiedEmail(account.access_token, claimed);
          emailVerified = email !== null;
        }
        const decision = await resolveExternalSignIn(
          getPrisma(),
          { provider: account.provider, providerAccountId: account.providerAccountId, email, emailVerified, name: user.name },
          env().SIGNUP_MODE,
        );
        return decision.ok ? true : "/sign-in?error=" + encodeURIComponent(decision.error);
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
