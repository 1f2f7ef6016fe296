import { randomBytes } from "node:crypto";
import { withPg, type VictimWorld } from "../support/victim-world";

/**
 * The victim team's trusted identity provider, with an enterprise identity of its owner and the
 * victim's OAuth grant issued through it: removing it (the thing an attacker would want) deletes the
 * identity and revokes the grant, so the judge sees more than one row go. Seeded straight into the
 * database (like the rest of the victim world) so it does not depend on the actions under attack.
 */
export interface VictimProvider {
  id: string;
  name: string;
  issuer: string;
}

/** The provider names seeded here: no one outside the victim team may read one back. */
export const VICTIM_PROVIDER_MARKER = /victim-idp-[0-9a-f]{8}/g;

const byTeam = new Map<string, VictimProvider>();

/** The victim's provider for a world seeded earlier (payloads read it synchronously). */
export function victimProvider(w: VictimWorld): VictimProvider | undefined {
  return byTeam.get(w.teamId);
}

/** Seeds the provider once per world, and again if a legitimate removal (an admin's) took it. */
export async function ensureVictimProvider(w: VictimWorld): Promise<VictimProvider> {
  const known = byTeam.get(w.teamId);
  return withPg(process.env.DATABASE_URL!, async (c) => {
    if (known && (await c.query(`SELECT 1 FROM trusted_identity_providers WHERE id = $1`, [known.id])).rowCount) return known;
    const tag = randomBytes(4).toString("hex");
    const name = `victim-idp-${tag}`;
    const issuer = `https://victim-idp-${tag}.example.com`;
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO trusted_identity_providers (team_id, name, issuer, jwks_uri, allowed_client_ids, created_by_id)
       VALUES ($1, $2, $3, $4, ARRAY['victim-client'], $5) RETURNING id`,
      [w.teamId, name, issuer, `${issuer}/keys`, w.ownerId],
    );
    const id = rows[0]!.id;
    await c.query(`INSERT INTO enterprise_identities (provider_id, subject, user_id) VALUES ($1, $2, $3)`, [id, `sub-${tag}`, w.ownerId]);
    await c.query(`UPDATE oauth_grants SET identity_provider_id = $1 WHERE id = $2 AND team_id = $3`, [id, w.grantId, w.teamId]);
    const provider = { id, name, issuer };
    byTeam.set(w.teamId, provider);
    return provider;
  });
}
