import type { PrismaClient } from "../client.js";
import { PortcullisError } from "../errors.js";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { normalizeFingerprint } from "../ssh/fingerprint.js";
import { openSshSecret, sealSshSecret } from "../ssh/secrets.js";
import { openClientKey, sealClientKey } from "../target-tls.js";
import type { ConnectionFields } from "./connection-fields.js";
import { reencryptMaskSecrets } from "./mask-secrets.js";
import { reencryptWebhookSecrets } from "./notification-settings.js";

/**
 * Fills the secrets an edit left blank from the stored connection — a blank means "keep" — but only
 * where they were stored for: the password for the same server, database and user; a hop's key for the
 * same SSH server and user; the client key for the same certificate. Sent anywhere else, a stored secret
 * would be handed (or its use lent) to whoever runs the new server. Pinned host keys stay with their
 * host:port unless the edit gives one.
 */
export async function completeFieldsFromStored(
  prisma: PrismaClient,
  teamId: string,
  connectionId: string,
  fields: ConnectionFields,
  keyring: SecretKeyring,
): Promise<ConnectionFields> {
  const stored = await prisma.connection.findFirst({ where: { id: connectionId, teamId }, include: { sshHops: true } });
  if (!stored) throw new PortcullisError("not_found", "connection not found");
  let password = fields.password;
  if (!password) {
    const same = fields.host === stored.host && fields.port === stored.port && fields.database === stored.database && fields.username === stored.username;
    if (!same) throw new PortcullisError("invalid_input", "enter the password again: the stored one is only ever sent to the server, database and user it was saved for");
    password = keyring.open(stored.secretCiphertext, stored.id);
  }
  const hops = (fields.ssh?.hops ?? []).map((hop, i) => {
    const previous = stored.sshHops.find((h) => h.host === hop.host.trim() && h.port === hop.port && h.username === hop.username.trim());
    const hostKeySha256 = hop.hostKeySha256 !== undefined ? hop.hostKeySha256 : (previous?.hostKeySha256 ?? null);
    if (hop.privateKey) return { ...hop, hostKeySha256 };
    if (!previous) throw new PortcullisError("invalid_input", `enter the private key for ${hop.username}@${hop.host}:${hop.port} (hop ${i + 1}): no key is stored for that server and user`);
    const passphrase =
      hop.passphrase ?? (previous.passphraseCiphertext ? openSshSecret(keyring, stored.id, previous.position, "passphrase", previous.passphraseCiphertext) : null);
    return { ...hop, privateKey: openSshSecret(keyring, stored.id, previous.position, "key", previous.privateKeyCiphertext), passphrase, hostKeySha256 };
  });
  let tls = fields.tls;
  if (tls?.clientCert && !tls.clientKey) {
    if (!stored.sslClientKeyCiphertext || tls.clientCert.trim() !== stored.sslClientCert?.trim())
      throw new PortcullisError("invalid_input", "enter the client key: the stored one belongs to another certificate");
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
  const staleClientKeys = (await prisma.connection.findMany({ where: { sslClientKeyCiphertext: { not: null } }, select: { sslClientKeyCiphertext: true } })).filter(
    (r) => keyIdOf(r.sslClientKeyCiphertext!) !== primary,
  ).length;
  const staleHops = (await prisma.connectionSshHop.findMany({ select: { privateKeyCiphertext: true, passphraseCiphertext: true } })).filter(
    (h) => keyIdOf(h.privateKeyCiphertext) !== primary || (h.passphraseCiphertext !== null && keyIdOf(h.passphraseCiphertext) !== primary),
  ).length;
  const remaining = (await prisma.connection.count({ where: { secretKeyId: { not: primary } } })) + staleClientKeys + staleHops + masks.remaining + webhooks.remaining;
  return { reencrypted: reencrypted + masks.reencrypted + webhooks.reencrypted, remaining, primaryKeyId: primary };
}

/** Whether a pasted fingerprint is the same key as another, whatever its spelling. */
export function sameFingerprint(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = normalizeFingerprint(a);
  return x !== null && x === normalizeFingerprint(b);
}
