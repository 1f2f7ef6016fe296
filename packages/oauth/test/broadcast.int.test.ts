import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Queue } from "bullmq";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { createMetadataDatabase, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";
import { QUEUES, REVOCATION_CHANNEL, createRedis, revocationMessageSchema } from "@portcullis/jobs";
import type { Redis } from "ioredis";
import {
  createQueueAuditSink,
  createRedisRevocationPublisher,
  handleRegistrationRequest,
  handleTokenRequest,
  parseAuthorizationRequest,
  approveAuthorization,
  resourceForLink,
  revokeToken,
} from "../src/index.js";
import { ISSUER, createContext, createTeamWithLinks, pkcePair, postForm } from "./support/fixtures.js";

/** The real transports: audit events on the BullMQ queue, revocations on the Redis channel. */
let db: TestDatabase;
let prisma: PrismaClient;
let redis: Redis;
let subscriber: Redis;
const prefix = `oauth-test-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  db = await createMetadataDatabase();
  prisma = createPrismaClient(db.url);
  redis = createRedis(testRedisUrl(), "worker");
  subscriber = createRedis(testRedisUrl(), "subscriber");
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
  subscriber?.disconnect();
  redis?.disconnect();
});

describe("audit and revocation transports", () => {
  it("queues audit events with the event id as job id, and broadcasts grant revocations", async () => {
    const audit = createQueueAuditSink(redis, { prefix });
    const ctx = createContext(prisma, { audit: audit.sink, publishRevocation: createRedisRevocationPublisher(redis) });
    const fx = await createTeamWithLinks(prisma);
    const received: unknown[] = [];
    await subscriber.subscribe(REVOCATION_CHANNEL);
    subscriber.on("message", (_channel: string, payload: string) => received.push(JSON.parse(payload)));

    const registration = await handleRegistrationRequest(
      ctx,
      new Request(`${ISSUER}/oauth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_name: "Broadcast client", redirect_uris: ["http://127.0.0.1/cb"] }),
      }),
    );
    const { client_id: clientId } = (await registration.json()) as { client_id: string };
    const pkce = pkcePair();
    const parsed = await parseAuthorizationRequest(
      ctx,
      new URLSearchParams({
        response_type: "code",
        client_id: clientId,
        redirect_uri: "http://127.0.0.1:5555/cb",
        code_challenge: pkce.challenge,
        code_challenge_method: "S256",
        resource: resourceForLink(ctx.config, fx.linkA.id),
      }),
    );
    if (!parsed.ok) throw parsed.error;
    const code = new URL(await approveAuthorization(ctx, { request: parsed.request, client: parsed.client, userId: fx.users.owner.id })).searchParams.get("code")!;
    const response = await handleTokenRequest(
      ctx,
      postForm("/oauth/token", { grant_type: "authorization_code", client_id: clientId, code, code_verifier: pkce.verifier, redirect_uri: "http://127.0.0.1:5555/cb" }),
    );
    const tokens = (await response.json()) as { refresh_token: string };
    await revokeToken(ctx, { token: tokens.refresh_token, clientId });

    const grant = await prisma.oAuthGrant.findFirstOrThrow({ where: { linkId: fx.linkA.id } });
    await expect.poll(() => received.length, { timeout: 2_000 }).toBeGreaterThan(0);
    expect(revocationMessageSchema.parse(received[0])).toEqual({ kind: "oauth_grant", grantId: grant.id });

    const queue = new Queue(QUEUES.audit, { connection: redis, prefix });
    const jobs = await queue.getJobs(["waiting", "delayed", "prioritized"]);
    const kinds = jobs.map((job) => job.data.kind).sort();
    expect(kinds).toEqual(["oauth_grant", "oauth_revoke"]);
    for (const job of jobs) expect(job.id).toBe(job.data.id);
    await queue.obliterate({ force: true });
    await queue.close();
    await audit.close();
  });
});
