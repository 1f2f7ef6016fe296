import { randomBytes } from "node:crypto";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";

/** What this needs of a connection or pool (pg.Pool, pg.Client and a Prisma-free caller alike). */
export interface MaskSecretQueryable {
  query(sql: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

const context = (teamId: string) => `mask:${teamId.toLowerCase()}`;

/**
 * The team's 32-byte secret behind the `hash` mask (each link's key is maskKeyFor(secret, linkId)),
 * created on first need. Race-free across processes: every caller proposes a fresh sealed secret with
 * INSERT … ON CONFLICT DO NOTHING and then reads whichever row won, so all of them use the same one.
 * Sealed with PORTCULLIS_SECRET_KEYS and the team id as associated data (a row copied onto another
 * team fails to open). The secret is never logged or returned by any API.
 */
export async function teamMaskSecret(db: MaskSecretQueryable, teamId: string, keyring: SecretKeyring = getKeyring()): Promise<Buffer> {
  const read = async () => (await db.query("SELECT secret_ciphertext FROM team_mask_secrets WHERE team_id = $1::uuid", [teamId])).rows[0];
  let row = await read();
  if (!row) {
    const sealed = keyring.seal(randomBytes(32).toString("base64"), context(teamId));
    await db.query(
      "INSERT INTO team_mask_secrets (team_id, secret_ciphertext, secret_key_id) VALUES ($1::uuid, $2, $3) ON CONFLICT (team_id) DO NOTHING",
      [teamId, sealed.ciphertext, sealed.keyId],
    );
    row = await read();
    // The team was deleted in between (the foreign key refused the insert): nothing to mask for.
    if (!row) throw new Error("team not found");
  }
  const secret = Buffer.from(keyring.open(String(row.secret_ciphertext), context(teamId)), "base64");
  if (secret.length !== 32) throw new Error("the team's mask secret is malformed");
  return secret;
}

/** Re-seals every team's mask secret under the keyring's primary key (part of `secrets reencrypt`). */
export async function reencryptMaskSecrets(db: MaskSecretQueryable, keyring: SecretKeyring = getKeyring()): Promise<{ reencrypted: number; remaining: number }> {
  const stale = (await db.query("SELECT team_id::text AS team_id, secret_ciphertext FROM team_mask_secrets WHERE secret_key_id <> $1", [keyring.primary.id])).rows;
  for (const row of stale) {
    const teamId = String(row.team_id);
    const sealed = keyring.seal(keyring.open(String(row.secret_ciphertext), context(teamId)), context(teamId));
    // Guarded on the old ciphertext: a concurrent re-seal is not overwritten with a stale one.
    await db.query("UPDATE team_mask_secrets SET secret_ciphertext = $1, secret_key_id = $2 WHERE team_id = $3::uuid AND secret_ciphertext = $4", [
      sealed.ciphertext,
      sealed.keyId,
      teamId,
      row.secret_ciphertext,
    ]);
  }
  const remaining = (await db.query("SELECT count(*)::int AS n FROM team_mask_secrets WHERE secret_key_id <> $1", [keyring.primary.id])).rows[0]!.n as number;
  return { reencrypted: stale.length, remaining };
}
