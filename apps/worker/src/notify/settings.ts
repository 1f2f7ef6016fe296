import type { SecretKeyring } from "@portcullis/db/secrets";

/** The sealing context of a team's webhook secret (the team id binds it: a copied ciphertext does not open). */
export const webhookSecretContext = (teamId: string) => `notification-webhook:${teamId}`;

/** The webhook's signing secret, or null when it cannot be opened (wrong key, altered row). */
export function openWebhookSecret(keyring: SecretKeyring, teamId: string, ciphertext: string): string | null {
  try {
    return keyring.open(ciphertext, webhookSecretContext(teamId));
  } catch {
    return null;
  }
}
