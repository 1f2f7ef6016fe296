import { z } from "zod";
import { createOAuthConfig, type OAuthConfig } from "./config.js";

/**
 * Environment of the authorization server and of the token verifier. The dashboard and the gateway
 * both read WEB_PUBLIC_URL (the issuer) and GATEWAY_PUBLIC_URL (the resource's base), so the two
 * sides agree on what a resource indicator looks like.
 */
const schema = z.object({
  WEB_PUBLIC_URL: z.string().url({ error: "WEB_PUBLIC_URL must be the dashboard's public URL (the OAuth issuer)" }),
  GATEWAY_PUBLIC_URL: z.string().url({ error: "GATEWAY_PUBLIC_URL must be the gateway's public URL" }),
  OAUTH_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).optional(),
  OAUTH_REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(3600).max(365 * 86_400).optional(),
  REDIS_URL: z.string().url().optional(),
});

export type OAuthEnv = z.infer<typeof schema>;

export function getOAuthEnv(source: NodeJS.ProcessEnv = process.env): OAuthEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid environment:\n${problems.join("\n")}`);
  }
  return parsed.data;
}

export function oauthConfigFromEnv(env: OAuthEnv = getOAuthEnv()): OAuthConfig {
  return createOAuthConfig({
    issuer: env.WEB_PUBLIC_URL,
    gatewayPublicUrl: env.GATEWAY_PUBLIC_URL,
    ...(env.OAUTH_ACCESS_TOKEN_TTL_SECONDS ? { accessTokenTtlSeconds: env.OAUTH_ACCESS_TOKEN_TTL_SECONDS } : {}),
    ...(env.OAUTH_REFRESH_TOKEN_TTL_SECONDS ? { refreshTokenTtlSeconds: env.OAUTH_REFRESH_TOKEN_TTL_SECONDS } : {}),
  });
}
