import { webhookSecretContext } from "@portcullis/db/operations";
import type { SecretKeyring } from "@portcullis/db/secrets";

/** The webhook's signing secret (sealed by saveNotificationSettings), or null when it cannot be opened (wrong key, altered row). */
export function openWebhookSecret(keyring: SecretKeyring, teamId: string, ciphertext: string): string | null {
  try {
    return keyring.open(ciphertext, webhookSecretContext(teamId));
  } catch {
    return null;
  }
}
