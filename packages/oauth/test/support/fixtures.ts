import { randomBytes } from "node:crypto";
import type { PrismaClient, Role } from "@portcullis/db/client";
import type { AuditEventInput, RevocationMessage } from "@portcullis/jobs";
import { createOAuthConfig, type OAuthContext, s256Challenge } from "../../src/index.js";

export const GATEWAY = "http://gateway.test:3001";
export const ISSUER = "http://dash.test:3000";

export interface Recorder {
  events: AuditEventInput[];
  revocations: RevocationMessage[];
}

export function createContext(prisma: PrismaClient, overrides: Partial<OAuthContext> = {}): OAuthContext & { recorder: Recorder } {
  const recorder: Recorder = { events: [], revocations: [] };
  return {
    prisma,
    config: createOAuthConfig({ issuer: ISSUER, gatewayPublicUrl: GATEWAY }),
    audit: async (event) => {
      recorder.events.push(event);
    },
    publishRevocation: async (message) => {
      recorder.revocations.push(message);
    },
    warn: () => {},
    ...overrides,
    recorder,
  };
}

/** A team with one connection and two links, and one user per role. */
export async function createTeamWithLinks(prisma: PrismaClient) {
  const tag = randomBytes(4).toString("hex");
  const team = await prisma.team.create({ data: { name: `Team ${tag}`, slug: `team-${tag}` } });
  const connection = await prisma.connection.create({
    data: { teamId: team.id, name: "db", host: "127.0.0.1", database: "x", username: "x", secretCiphertext: "x", secretKeyId: "k1" },
  });
  const linkA = await prisma.link.create({ data: { teamId: team.id, connectionId: connection.id, name: "A", scope: { access: "read" } } });
  const linkB = await prisma.link.create({ data: { teamId: team.id, connectionId: connection.id, name: "B", scope: { access: "read" } } });
  const users = {} as Record<Role, { id: string }>;
  for (const role of ["owner", "admin", "member", "viewer"] as const) {
    const user = await prisma.user.create({ data: { email: `${role}-${tag}@example.com` } });
    await prisma.membership.create({ data: { teamId: team.id, userId: user.id, role } });
    users[role] = user;
  }
  return { team, connection, linkA, linkB, users };
}

export function pkcePair() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: s256Challenge(verifier) };
}

export function form(values: Record<string, string | undefined>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined) params.set(key, value);
  return params;
}

export function postForm(path: string, values: Record<string, string | undefined>): Request {
  return new Request(`${ISSUER}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: form(values).toString(),
  });
}
