import type { PrismaClient } from "../client.js";
import { PortcullisError } from "../errors.js";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { normalizeFingerprint } from "../ssh/fingerprint.js";
import { openSshSecret, sealSshSecret } from "../ssh/secrets.js";
import { openClientKey, sealClientKey } from "../target-tls.js";
import type { ConnectionFields } from "./connection-fields.js";
import { hopOnwardChange, matchingHopPrefix, routeChange } from "./connection-route-match.js";
import { reencryptMaskSecrets } from "./mask-secrets.js";
import { reencryptWebhookSecrets } from "./notification-settings.js";
import { reencryptAuditSinkSecrets } from "./audit-sinks.js";

/**
 * Fills the secrets an edit left blank from the stored connection — a blank means "keep" — but only
 * where everything that decides where a secret goes and how it is protected is as stored: the password
 * and the client key only for the same server, database, user, TLS mode, CA, server name, client
 * certificate, SSH hops (with their pinned keys) and no replica added or moved; a hop's key only for the
 * same SSH server and user reached through the same hops before it, and only while everything after it
 * (later hops, the database server, the replicas) is as stored too. Anything else would hand a secret
 * nobody can read back (or its use) to whoever runs the new route. While any stored secret is kept, a
 * host key pin from the form is not trusted: pins then come only through confirmHostKey, which pins what
 * a hop really offered. An edit that types every secret again may pin in the form (nothing stored leaks).
 */
export async function completeFieldsFromStored(
  prisma: PrismaClient,
  teamId: string,
  connectionId: string,
  fields: ConnectionFields,
  keyring: SecretKeyring,
): Promise<ConnectionFields> {
  const stored = await prisma.connection.findFirst({ where: { id: connectionId, teamId }, include: { sshHops: { orderBy: { position: "asc" } }, replicas: true } });
  if (!stored) throw new PortcullisError("not_found", "connection not found");
  const change = routeChange(fields, stored);
  const sameBefore = matchingHopPrefix(fields, stored);
  const onward = hopOnwardChange(fields, stored);
  const formHops = fields.ssh?.hops ?? [];
  const keepsClientKey = Boolean(fields.tls?.clientCert && !fields.tls.clientKey);
  const keepsStored = !fields.password || keepsClientKey || formHops.some((hop) => !hop.privateKey);

  let password = fields.password;
  if (!password) {
    if (change) {
      const message = `re-enter the password: the connection's route changed (${change}); the stored password is only sent where it was saved for`;
      throw new PortcullisError("invalid_input", message, { fieldErrors: { password: message } });
    }
    password = keyring.open(stored.secretCiphertext, stored.id);
  }
  const hops = formHops.map((hop, i) => {
    const previous = sameBefore[i] ? stored.sshHops[i] : undefined;
    const formPin = normalizeFingerprint(hop.hostKeySha256);
    let hostKeySha256: string | null;
    if (keepsStored) {
      if (formPin !== null && formPin !== previous?.hostKeySha256)
        throw new PortcullisError(
          "invalid_input",
          `hop ${i + 1} (${hop.host}:${hop.port}): a host key from the form is not trusted while stored secrets are kept — confirm the key the server offered on the saved connection, or enter the password and keys again`,
        );
      hostKeySha256 = previous?.hostKeySha256 ?? null;
    } else hostKeySha256 = hop.hostKeySha256 !== undefined ? formPin : (previous?.hostKeySha256 ?? null);
    if (hop.privateKey) return { ...hop, hostKeySha256 };
    if (!previous)
      throw new PortcullisError(
        "invalid_input",
        `enter the private key for ${hop.username}@${hop.host}:${hop.port} (hop ${i + 1}): no key is stored for that server and user reached through the same hops before it`,
      );
    if (onward) {
      // No field error: the form shows those only under fields it knows, and this one must be read.
      throw new PortcullisError("invalid_input", `re-enter the SSH key for hop ${i + 1}: where it leads changed (${onward}); the stored key only opens the route it was saved for`);
    }
    const passphrase =
      hop.passphrase ?? (previous.passphraseCiphertext ? openSshSecret(keyring, stored.id, previous.position, "passphrase", previous.passphraseCiphertext) : null);
    return { ...hop, privateKey: openSshSecret(keyring, stored.id, previous.position, "key", previous.privateKeyCiphertext), passphrase, hostKeySha256 };
  });
  let tls = fields.tls;
  if (tls?.clientCert && !tls.clientKey) {
    if (!stored.sslClientKeyCiphertext || change)
      throw new PortcullisError("invalid_input", `re-enter the client key: ${change ? `the connection's route changed (${change})` : "no key is stored for this certificate"}`);
    tls = { ...tls, clientKey: openClientKey(keyring, stored.id, stored.sslClientKeyCiphertext) };
  }
  return { ...fields, password, ssh: fields.ssh ? { hops } : fields.ssh, tls };
}

const keyIdOf = (sealed: string): string | undefined => sealed.split(".")[1];

/**
 * Re-seals every connection secret under the keyring's primary key — passwords, SSH keys and
 * passphrases, client keys — and the teams' mask and webhook secrets. Run after putting a new key first
 * in PORTCULLIS_SECRET_KEYS; once it reports zero remaining, the old key can be removed. Each write is
 * guarded on the old ciphertext so a concurrent change is not overwritten.
 */
export async function reencryptSecrets(prisma: PrismaClient, keyring: SecretKeyring = getKeyring()) {
  const primary = keyring.primary.id;
  let reencrypted = 0;
  const stale = await prisma.connection.findMany({ where: { secretKeyId: { not: primary } }, select: { id: true, secretCiphertext: true } });
  for (const row of stale) {
    const sealed = keyring.seal(keyring.open(row.secretCiphertext, row.id), row.id);
    reencrypted += (
      await prisma.connection.updateMany({ where: { id: row.id, secretCiphertext: row.secretCiphertext }, data: { secretCiphertext: sealed.ciphertext, secretKeyId: sealed.keyId } })
    ).count;
  }
  // The key id is inside the sealed text (no column of its own for these): every row is looked at.
  const clientKeys = await prisma.connection.findMany({ where: { sslClientKeyCiphertext: { not: null } }, select: { id: true, sslClientKeyCiphertext: true } });
  for (const row of clientKeys) {
    if (keyIdOf(row.sslClientKeyCiphertext!) === primary) continue;
    const sealed = sealClientKey(keyring, row.id, openClientKey(keyring, row.id, row.sslClientKeyCiphertext!));
    reencrypted += (
      await prisma.connection.updateMany({ where: { id: row.id, sslClientKeyCiphertext: row.sslClientKeyCiphertext }, data: { sslClientKeyCiphertext: sealed.ciphertext } })
    ).count;
  }
  const hops = await prisma.connectionSshHop.findMany({ select: { connectionId: true, position: true, privateKeyCiphertext: true, passphraseCiphertext: true } });
  for (const hop of hops) {
    const keyStale = keyIdOf(hop.privateKeyCiphertext) !== primary;
    const passStale = hop.passphraseCiphertext !== null && keyIdOf(hop.passphraseCiphertext) !== primary;
    if (!keyStale && !passStale) continue;
    const reseal = (kind: "key" | "passphrase", sealed: string) =>
      sealSshSecret(keyring, hop.connectionId, hop.position, kind, openSshSecret(keyring, hop.connectionId, hop.position, kind, sealed));
    reencrypted += (
      await prisma.connectionSshHop.updateMany({
        where: { connectionId: hop.connectionId, position: hop.position, privateKeyCiphertext: hop.privateKeyCiphertext, passphraseCiphertext: hop.passphraseCiphertext },
        data: {
          privateKeyCiphertext: keyStale ? reseal("key", hop.privateKeyCiphertext) : hop.privateKeyCiphertext,
          passphraseCiphertext: passStale ? reseal("passphrase", hop.passphraseCiphertext!) : hop.passphraseCiphertext,
        },
      })
    ).count;
  }
  // The teams' hash-mask secrets are sealed with the same keys: an old key cannot go while one needs it.
  const masks = await reencryptMaskSecrets({ query: async (sql, values) => ({ rows: await prisma.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...values) }) }, keyring);
  // And the webhook signing secrets of the teams' approval notifications (issue 15).
  const webhooks = await reencryptWebhookSecrets(prisma, keyring);
  // And the audit sinks' signing secrets (issue 16).
  const sinks = await reencryptAuditSinkSecrets(prisma, keyring);
  const staleClientKeys = (await prisma.connection.findMany({ where: { sslClientKeyCiphertext: { not: null } }, select: { sslClientKeyCiphertext: true } })).filter(
    (r) => keyIdOf(r.sslClientKeyCiphertext!) !== primary,
  ).length;
  const staleHops = (await prisma.connectionSshHop.findMany({ select: { privateKeyCiphertext: true, passphraseCiphertext: true } })).filter(
    (h) => keyIdOf(h.privateKeyCiphertext) !== primary || (h.passphraseCiphertext !== null && keyIdOf(h.passphraseCiphertext) !== primary),
  ).length;
  const remaining = (await prisma.connection.count({ where: { secretKeyId: { not: primary } } })) + staleClientKeys + staleHops + masks.remaining + webhooks.remaining + sinks.remaining;
  return { reencrypted: reencrypted + masks.reencrypted + webhooks.reencrypted + sinks.reencrypted, remaining, primaryKeyId: primary };
}

/** Whether a pasted fingerprint is the same key as another, whatever its spelling. */
export function sameFingerprint(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = normalizeFingerprint(a);
  return x !== null && x === normalizeFingerprint(b);
}
