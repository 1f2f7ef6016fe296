import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { generateSecretKey } from "@portcullis/db/secrets";
import { createMetadataDatabase, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";
import { createTeamWithLinks } from "./support/fixtures.js";

// Each cli() run is a Node process loading the CLI through tsx (~1.7 s of CPU): a case of six or seven
// took 33-35 s on a loaded 2-core machine and passed 60 s at nice 19, failing on the timeout (and the
// next case on what the cut one left). No speed is judged here.
vi.setConfig({ testTimeout: 180_000 });

/** `pnpm portcullis idp add|list|remove` as an operator runs it: a separate process, real database. */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
let db: TestDatabase;
let prisma: PrismaClient;
let fx: Awaited<ReturnType<typeof createTeamWithLinks>>;
let other: Awaited<ReturnType<typeof createTeamWithLinks>>;
let env: NodeJS.ProcessEnv;

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run("node", ["--import", "tsx", "apps/cli/src/main.ts", ...args, "--json"], { cwd: root, env });
    return { code: 0, body: JSON.parse(stdout) as Record<string, unknown>, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, body: (e.stdout ? JSON.parse(e.stdout) : {}) as Record<string, unknown>, stderr: e.stderr };
  }
}

beforeAll(async () => {
  db = await createMetadataDatabase();
  prisma = createPrismaClient(db.url);
  fx = await createTeamWithLinks(prisma);
  other = await createTeamWithLinks(prisma);
  // Everything the CLI needs is given here: a fresh clone has no .env to fall back on.
  env = { ...process.env, DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), PORTCULLIS_SECRET_KEYS: generateSecretKey("k1"), AUDIT_CHAIN_KEY: randomBytes(32).toString("hex") };
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

describe("portcullis idp", () => {
  it("adds (URI or key file), lists, refuses bad input, and removes only within the team", async () => {
    const added = await cli(["idp", "add", "--team", fx.team.slug, "--name", "Okta", "--issuer", "https://acme.okta.com", "--jwks-uri", "https://acme.okta.com/keys", "--client", "pcc_one", "--client", "https://client.example.com/meta.json"]);
    expect(added.code, added.stderr).toBe(0);
    const provider = added.body.identityProvider as { id: string; allowedClientIds: string[] };
    expect(provider.allowedClientIds).toEqual(["pcc_one", "https://client.example.com/meta.json"]);

    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const dir = await mkdtemp(path.join(tmpdir(), "idp-cli-"));
    await writeFile(path.join(dir, "keys.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "a" }] }));
    await writeFile(path.join(dir, "private.json"), JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: "b" }] }));
    expect((await cli(["idp", "add", "--team", fx.team.slug, "--name", "Entra", "--issuer", "https://login.example.com/t/v2.0", "--jwks-file", path.join(dir, "keys.json"), "--client", "pcc_one"])).code).toBe(0);

    // Refused, nothing stored: a private key, plain http, the same issuer twice.
    const priv = await cli(["idp", "add", "--team", fx.team.slug, "--name", "x", "--issuer", "https://x.example.com", "--jwks-file", path.join(dir, "private.json"), "--client", "c"]);
    expect(priv).toMatchObject({ code: 1, body: { error: { code: "invalid_input" } } });
    const http = await cli(["idp", "add", "--team", fx.team.slug, "--name", "x", "--issuer", "https://x.example.com", "--jwks-uri", "http://10.0.0.1/keys", "--client", "c"]);
    expect(http).toMatchObject({ code: 1, body: { error: { code: "invalid_input" } } });
    const twice = await cli(["idp", "add", "--team", fx.team.slug, "--name", "again", "--issuer", "https://acme.okta.com", "--jwks-uri", "https://acme.okta.com/keys", "--client", "c"]);
    expect(twice).toMatchObject({ code: 1, body: { error: { code: "conflict" } } });

    const listed = await cli(["idp", "list", "--team", fx.team.slug]);
    expect((listed.body.identityProviders as { name: string }[]).map((p) => p.name)).toEqual(["Okta", "Entra"]);
    expect((await cli(["idp", "list", "--team", other.team.slug])).body.identityProviders).toEqual([]);

    // Another team's slug cannot remove it.
    expect(await cli(["idp", "remove", provider.id, "--team", other.team.slug])).toMatchObject({ code: 1, body: { error: { code: "not_found" } } });
    const removed = await cli(["idp", "remove", provider.id, "--team", fx.team.slug]);
    expect(removed).toMatchObject({ code: 0, body: { removed: provider.id, revokedGrants: 0 } });
    expect(await prisma.trustedIdentityProvider.count({ where: { teamId: fx.team.id } })).toBe(1);
    // Both changes are in the team's audit outbox, marked as made through the CLI.
    const records = await prisma.auditOutbox.findMany({ where: { teamId: fx.team.id } });
    const actions = records.map((r) => JSON.parse(JSON.parse(r.event).detail) as { action: string; via?: string });
    expect(actions.filter((a) => a.action.startsWith("identity_provider.")).map((a) => [a.action, a.via])).toEqual(
      expect.arrayContaining([["identity_provider.add", "cli"], ["identity_provider.remove", "cli"]]),
    );
  });
});
