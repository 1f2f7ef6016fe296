import { maskKeyFor } from "@portcullis/policy";
import { teamMaskSecret, type MaskSecretQueryable } from "@portcullis/db/operations";
import type { SecretKeyring } from "@portcullis/db/secrets";

const MAX_ENTRIES = 10_000;

/**
 * The `hash` mask's per-link keys: maskKeyFor(team secret, link id). The team secret is read (or
 * created, race-free) once per team and process; keys are derived once per link. Only statements
 * that mask a column with `hash` ask, so nothing else pays for it. Never logged.
 */
export class MaskKeys {
  private readonly teams = new Map<string, Promise<Buffer>>();
  private readonly links = new Map<string, Buffer>();

  constructor(
    private readonly metadata: MaskSecretQueryable,
    private readonly keyring: SecretKeyring,
  ) {}

  async forLink(teamId: string, linkId: string): Promise<Buffer> {
    const cached = this.links.get(linkId);
    if (cached) return cached;
    let secret = this.teams.get(teamId);
    if (!secret) {
      secret = teamMaskSecret(this.metadata, teamId, this.keyring);
      // A failure (metadata database down) is not remembered: the next call tries again.
      secret.catch(() => this.teams.delete(teamId));
      if (this.teams.size >= MAX_ENTRIES) this.teams.clear();
      this.teams.set(teamId, secret);
    }
    const key = maskKeyFor(await secret, linkId);
    if (this.links.size >= MAX_ENTRIES) this.links.clear();
    this.links.set(linkId, key);
    return key;
  }
}
