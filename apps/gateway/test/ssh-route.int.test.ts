import { sealSshSecret } from "@portcullis/db/ssh";
import { getKeyring } from "@portcullis/db/secrets";
import { testPgUrl, withClient } from "@portcullis/db/testing";
import { startSshd, type SshClientKey, type TestSshd } from "@portcullis/db/testing/sshd";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, connectClient, toolJson, toolText, waitFor } from "./fixtures.js";

// A link whose connection goes through a real OpenSSH bastion. The gateway's target policy allows only
// the bastion's address: the database (loopback) could not be dialled directly, so every answer below
// came through the tunnel.
let world: GatewayWorld;
let bastion: TestSshd;

beforeAll(async () => {
  [world, bastion] = await Promise.all([GatewayWorld.create(), startSshd()]);
  await setHop(bastion.clientKeys.ed25519);
}, 120_000);
afterAll(async () => {
  await world?.close();
  await bastion?.stop();
});

async function setHop(key: SshClientKey, hostKeySha256 = bastion.hostKeyFingerprint): Promise<void> {
  const keyring = getKeyring(world.secretKeys);
  const data = {
    host: bastion.host,
    port: bastion.port,
    username: bastion.username,
    privateKeyCiphertext: sealSshSecret(keyring, world.connectionId, 0, "key", key.privateKey),
    passphraseCiphertext: key.passphrase ? sealSshSecret(keyring, world.connectionId, 0, "passphrase", key.passphrase) : null,
    hostKeySha256,
  };
  await world.prisma.connectionSshHop.upsert({
    where: { connectionId_position: { connectionId: world.connectionId, position: 0 } },
    create: { connectionId: world.connectionId, teamId: world.teamId, position: 0, ...data },
    update: data,
  });
}

const onlyBastion = () => ({ TARGET_NETWORKS: "public", TARGET_ALLOW_ADDRESSES: `127.0.0.1:${bastion.port}` });
const TEN_ALBUMS = "SELECT album_id, title FROM album ORDER BY album_id LIMIT 10";

test("execute_sql runs through the tunnel; an idle pool's eviction closes its SSH session; an edited hop gets a new chain", async () => {
  const { url } = await world.startGateway({ ...onlyBastion(), GATEWAY_POOL_IDLE_MS: "1500" });
  const link = await world.addLink({ access: "read" });
  const client = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  const result = toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: TEN_ALBUMS } }));
  expect(result.rowCount).toBe(10);
  expect(result.rows[0]).toEqual([1, "For Those About To Rock We Salute You"]);
  expect(await bastion.connections()).toBe(1);
  expect(bastion.log()).toMatch(/Accepted publickey for \S+ from 127\.0\.0\.1 port \d+ ssh2: ED25519/);

  // Idle: the pool is swept and its route closed, which ends the SSH connection.
  expect(await waitFor(() => bastion.connections(), (n) => n === 0, 15_000)).toBe(0);
  expect(toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: TEN_ALBUMS } })).rowCount).toBe(10);
  expect(await bastion.connections()).toBe(1);

  // The hop now authenticates with another key: the gateway hears the change, the next call gets a new
  // pool and route, and the old chain is closed (one SSH connection, not two).
  await setHop(bastion.clientKeys.rsaWithPassphrase);
  await waitFor(
    async () => toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: TEN_ALBUMS } })).rowCount,
    () => /ssh2: RSA/.test(bastion.log()),
    10_000,
  );
  expect(await waitFor(() => bastion.connections(), (n) => n === 1, 5_000)).toBe(1);
  await setHop(bastion.clientKeys.ed25519);
  await client.close();
}, 60_000);

test("a tunnel dropped mid-statement fails that call in words, the gateway lives on, and the same pool recovers", async () => {
  const { url } = await world.startGateway(onlyBastion());
  const link = await world.addLink({ access: "read" });
  const client = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  expect(toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: TEN_ALBUMS } })).rowCount).toBe(10);
  // pg_sleep is refused by the policy; a long series keeps the statement running.
  const running = client.callTool({ name: "execute_sql", arguments: { sql: "SELECT count(*) FROM generate_series(1, 2000000000) g" } });
  await new Promise((r) => setTimeout(r, 500));
  const started = Date.now();
  await bastion.kill();
  const dropped = await running;
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(dropped.isError).toBe(true);
  const text = toolText(dropped);
  expect(text).toMatch(/unreachable right now \(the SSH tunnel to the database failed\)/);
  expect(text).not.toMatch(/127\.0\.0\.1|:\d{4,5}/);

  // The server notices a vanished client only when it next writes: the orphaned count would burn a core
  // for minutes on a shared machine.
  await withClient(testPgUrl(), (c) => c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 2000000000)%' AND pid <> pg_backend_pid()"));
  await bastion.restart();
  expect(toolJson(await client.callTool({ name: "execute_sql", arguments: { sql: TEN_ALBUMS } })).rowCount).toBe(10);
  expect(await bastion.connections()).toBe(1);
  await client.close();
}, 60_000);

test("a bastion whose host key is not the confirmed one: the call is refused as unavailable, in words naming no host or key", async () => {
  const other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  await setHop(bastion.clientKeys.ed25519, other);
  try {
    const { url } = await world.startGateway(onlyBastion());
    const link = await world.addLink({ access: "read" });
    const client = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
    const logBefore = bastion.log().length;
    const refused = await client.callTool({ name: "execute_sql", arguments: { sql: TEN_ALBUMS } });
    const text = toolText(refused);
    // Messages carry the answer and the log, so a failure says what happened.
    expect(refused.isError, text).toBe(true);
    expect(text).toMatch(/unreachable right now \(the SSH server's host key is not the one confirmed for this connection/);
    expect(text).toContain('"code":"target_unavailable"');
    expect(text).not.toMatch(/127\.0\.0\.1|SHA256|:\d{4,5}/);
    // The client hung up before authenticating to a server it does not trust.
    const logged = bastion.log().slice(logBefore);
    expect(logged, logged).not.toMatch(/Accepted publickey/);
    await client.close();
  } finally {
    await setHop(bastion.clientKeys.ed25519);
  }
}, 60_000);
