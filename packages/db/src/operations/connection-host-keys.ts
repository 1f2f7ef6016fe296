import type { PrismaClient } from "../client.js";
import { PortcullisError } from "../errors.js";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { normalizeFingerprint } from "../ssh/fingerprint.js";
import type { ConnectionFields } from "./connection-fields.js";
import { matchingHopPrefix } from "./connection-route-match.js";
import { loadTargetRow, recordOfferedHostKeys, storedResult } from "./connection-stored.js";
import { testConnectionRow, type ConnectionTestOptions, type ConnectionTestResult } from "./connection-test.js";

export interface HostKeyConfirmation {
  /** Whether the fingerprint is now the hop's confirmed key. */
  pinned: boolean;
  /** The test run with that key (what the dashboard shows next: ok, or the next hop's key, or why not). */
  test: ConnectionTestResult;
}

/**
 * Pins the host key of hop `position` — only the fingerprint that hop really offered to a test
 * (`host_key_seen_sha256`), never one merely typed in here: confirming means "the key you showed me is
 * the one I expect". The connection is tested with that key first, and the pin is kept only when the
 * test then passes or stops at a later hop's first-seen key (confirm that one next): a route that
 * reaches a server no test accepted (Portcullis's own PostgreSQL, a superuser role) never becomes usable.
 */
export async function confirmHostKey(
  prisma: PrismaClient,
  teamId: string,
  connectionId: string,
  position: number,
  fingerprint: string,
  keyring: SecretKeyring = getKeyring(),
  testOptions: ConnectionTestOptions = {},
): Promise<HostKeyConfirmation> {
  const { stored, target } = await loadTargetRow(prisma, connectionId, teamId);
  const hop = stored.sshHops.find((h) => h.position === position);
  if (!hop) throw new PortcullisError("not_found", `this connection has no SSH hop ${position + 1}`);
  const wanted = normalizeFingerprint(fingerprint);
  if (!wanted) throw new PortcullisError("invalid_input", "a host key fingerprint looks like SHA256:… (43 characters of base64), as ssh-keygen -lf prints it");
  if (!hop.hostKeySeenSha256)
    throw new PortcullisError("invalid_input", `no host key was seen for ${hop.host}:${hop.port} yet${hop.hostKeySha256 === wanted ? " (that key is already confirmed)" : ""}: test the connection first`);
  if (hop.hostKeySeenSha256 !== wanted)
    throw new PortcullisError("invalid_input", `${wanted} is not the key ${hop.host}:${hop.port} offered (it offered ${hop.hostKeySeenSha256}): refused`);

  const candidate = { ...target, sshHops: target.sshHops!.map((h) => (h.position === position ? { ...h, hostKeySha256: wanted } : h)) };
  const test = await testConnectionRow(candidate, keyring, { metadata: prisma, ...testOptions });
  const met = test.hostKeys ?? [];
  const laterFirstUse = !test.ok && test.stage === "ssh_host_key" && met.length > 0 && met.every((k) => k.position > position && k.pinned === null);
  const pinned = test.ok || laterFirstUse;
  const now = new Date();
  if (pinned) {
    // Guarded on what was seen: a test that meanwhile saw another key makes this confirmation stale.
    const { count } = await prisma.connectionSshHop.updateMany({
      where: { connectionId: stored.id, teamId, position, hostKeySeenSha256: wanted },
      data: { hostKeySha256: wanted, hostKeySeenSha256: null, hostKeySeenAt: null },
    });
    if (count === 0) throw new PortcullisError("conflict", `the host key offered by ${hop.host}:${hop.port} changed meanwhile: test the connection again`);
  }
  await prisma.connection.update({
    where: { id: stored.id },
    data: {
      status: test.ok ? "ok" : "error",
      lastTestedAt: now,
      lastTestResult: storedResult(test),
      ...(test.role ? { rolePrivileges: { ...test.role } } : {}),
    },
  });
  await recordOfferedHostKeys(prisma, teamId, stored.id, test);
  return { pinned, test };
}

/**
 * After a test of an edit that is not saved (the dashboard's Test button): keeps what each hop offered,
 * as a retest would, so confirmHostKey can pin it — but only for hops that are the stored ones, reached
 * through the stored hops before them: a key offered on another route says nothing about the stored hop.
 */
export async function recordOfferedForStoredHops(
  prisma: PrismaClient,
  teamId: string,
  connectionId: string,
  fields: ConnectionFields,
  result: ConnectionTestResult,
): Promise<void> {
  const stored = await prisma.connection.findFirst({ where: { id: connectionId, teamId }, include: { sshHops: { orderBy: { position: "asc" } }, replicas: true } });
  if (!stored || !result.hostKeys?.length) return;
  const same = matchingHopPrefix(fields, stored);
  const hostKeys = result.hostKeys.filter((k) => same[k.position] === true);
  if (hostKeys.length) await recordOfferedHostKeys(prisma, teamId, connectionId, { ...result, hostKeys });
}
