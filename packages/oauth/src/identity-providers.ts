import { z } from "zod";
import { recordConfigChange } from "@portcullis/db/audit";
import type { PrismaClient, TrustedIdentityProvider } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";
import { jwksSchema } from "./jwks.js";

/**
 * Trusted identity providers of a team (enterprise-managed authorization): added, listed and removed
 * by its owners and admins from the dashboard or the operator CLI. One operation per verb, each
 * taking already-resolved team and actor; the input is parsed here, whoever calls.
 */
const httpsUrl = (label: string) =>
  z
    .string()
    .trim()
    .max(2000)
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === "https:" && !url.username && !url.password && !url.hash;
      } catch {
        return false;
      }
    }, `${label} must be an https URL without credentials or fragment`);

export const identityProviderInputSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    // Compared as an exact string with the assertions' iss: no trimming of slashes, no case folding.
    issuer: z.string().max(2000).refine((value) => value === value.trim() && value.length > 0, "issuer must not be empty or padded"),
    jwksUri: httpsUrl("the JWKS URI").optional(),
    // An object, or the JSON text an admin pasted; checked key by key in the transform below.
    jwks: z.unknown().optional(),
    allowedClientIds: z
      .array(z.string().trim().min(1).max(2048))
      .min(1, "allow at least one client id")
      .max(20),
  })
  .superRefine((value, ctx) => {
    if (!value.jwksUri === !value.jwks) ctx.addIssue({ code: "custom", message: "give either a JWKS URI or an inline JWKS, not both", path: ["jwks"] });
  })
  .transform((value, ctx) => {
    let jwks: z.infer<typeof jwksSchema> | null = null;
    if (value.jwks !== undefined) {
      let raw: unknown = value.jwks;
      if (typeof raw === "string" && raw.length > 64_000) {
        ctx.addIssue({ code: "custom", message: "the inline JWKS is too large", path: ["jwks"] });
        return z.NEVER;
      }
      if (typeof raw === "string") {
        try {
          raw = JSON.parse(raw);
        } catch {
          ctx.addIssue({ code: "custom", message: "the inline JWKS is not JSON", path: ["jwks"] });
          return z.NEVER;
        }
      }
      const parsed = jwksSchema.safeParse(raw);
      if (!parsed.success) {
        ctx.addIssue({ code: "custom", message: parsed.error.issues[0]?.message ?? "invalid JWKS", path: ["jwks"] });
        return z.NEVER;
      }
      jwks = parsed.data;
    }
    return { name: value.name, issuer: value.issuer, jwksUri: value.jwksUri ?? null, jwks, allowedClientIds: [...new Set(value.allowedClientIds)] };
  });

export type IdentityProviderInput = z.input<typeof identityProviderInputSchema>;

export interface IdentityProviderView {
  id: string;
  name: string;
  issuer: string;
  jwksUri: string | null;
  inlineKeyIds: string[];
  allowedClientIds: string[];
  createdAt: Date;
  linkedIdentities: number;
}

function toView(row: TrustedIdentityProvider & { _count?: { identities: number } }): IdentityProviderView {
  const keys = (row.jwksJson as { keys?: { kid?: string }[] } | null)?.keys ?? [];
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    jwksUri: row.jwksUri,
    inlineKeyIds: keys.map((key, index) => key.kid ?? `key ${index + 1}`),
    allowedClientIds: row.allowedClientIds,
    createdAt: row.createdAt,
    linkedIdentities: row._count?.identities ?? 0,
  };
}

interface Actor {
  teamId: string;
  actorUserId: string | null;
  sourceIp?: string | null;
  via?: "dashboard" | "cli";
}

function invalid(error: z.ZodError): PortcullisError {
  const issue = error.issues[0];
  return new PortcullisError("invalid_input", `${issue?.path.join(".") || "input"}: ${issue?.message ?? "invalid"}`);
}

export async function addIdentityProvider(prisma: PrismaClient, actor: Actor, input: unknown): Promise<IdentityProviderView> {
  const parsed = identityProviderInputSchema.safeParse(input);
  if (!parsed.success) throw invalid(parsed.error);
  const value = parsed.data;
  try {
    return await prisma.$transaction(async (tx) => {
      const row = await tx.trustedIdentityProvider.create({
        data: {
          teamId: actor.teamId,
          name: value.name,
          issuer: value.issuer,
          jwksUri: value.jwksUri,
          ...(value.jwks ? { jwksJson: value.jwks as object } : {}),
          allowedClientIds: value.allowedClientIds,
          createdById: actor.actorUserId,
        },
      });
      await recordConfigChange(tx, {
        teamId: actor.teamId,
        actorUserId: actor.actorUserId,
        action: "identity_provider.add",
        target: { type: "identity_provider", id: row.id, name: row.name },
        after: { issuer: row.issuer, jwksUri: row.jwksUri, inlineKeys: value.jwks?.keys.length ?? 0, allowedClientIds: row.allowedClientIds },
        sourceIp: actor.sourceIp ?? null,
        ...(actor.via ? { via: actor.via } : {}),
      });
      return toView(row);
    });
  } catch (error) {
    if ((error as { code?: string }).code === "P2002") throw new PortcullisError("conflict", "this team already trusts an identity provider with that issuer");
    throw error;
  }
}

export async function listIdentityProviders(prisma: PrismaClient, teamId: string): Promise<IdentityProviderView[]> {
  const rows = await prisma.trustedIdentityProvider.findMany({
    where: { teamId },
    include: { _count: { select: { identities: true } } },
    orderBy: { createdAt: "asc" },
  });
  return rows.map(toView);
}

/**
 * Removes a provider of this team (another team's id answers "not found"). Its linked identities go
 * with it; grants issued through it are revoked in the same transaction and returned, so the caller
 * can broadcast their revocation to the gateways after the commit.
 */
export async function removeIdentityProvider(prisma: PrismaClient, actor: Actor, providerId: string): Promise<{ provider: IdentityProviderView; revokedGrantIds: string[] }> {
  if (!z.string().uuid().safeParse(providerId).success) throw new PortcullisError("not_found", "no such identity provider in this team");
  return prisma.$transaction(async (tx) => {
    const row = await tx.trustedIdentityProvider.findFirst({ where: { id: providerId, teamId: actor.teamId } });
    if (!row) throw new PortcullisError("not_found", "no such identity provider in this team");
    const grants = await tx.oAuthGrant.findMany({ where: { identityProviderId: row.id, revokedAt: null }, select: { id: true } });
    const ids = grants.map((grant) => grant.id);
    const now = new Date();
    if (ids.length) {
      await tx.oAuthGrant.updateMany({ where: { id: { in: ids }, revokedAt: null }, data: { revokedAt: now } });
      await tx.oAuthToken.updateMany({ where: { grantId: { in: ids }, revokedAt: null }, data: { revokedAt: now } });
    }
    await tx.trustedIdentityProvider.delete({ where: { id: row.id } });
    await recordConfigChange(tx, {
      teamId: actor.teamId,
      actorUserId: actor.actorUserId,
      action: "identity_provider.remove",
      target: { type: "identity_provider", id: row.id, name: row.name },
      before: { issuer: row.issuer, jwksUri: row.jwksUri, allowedClientIds: row.allowedClientIds },
      after: { revokedGrants: ids.length },
      sourceIp: actor.sourceIp ?? null,
      ...(actor.via ? { via: actor.via } : {}),
    });
    return { provider: toView(row), revokedGrantIds: ids };
  });
}
