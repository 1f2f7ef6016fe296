import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AccessTokenVerifier, type SqlQueryable } from "../src/verify.js";

const token = () => `pca_${randomBytes(32).toString("base64url")}`;
const LINK = "0b6a3c1e-5f1d-4c59-9d3b-2a1f1e0d9c8b";
const OTHER = "1b6a3c1e-5f1d-4c59-9d3b-2a1f1e0d9c8b";

/** A fake metadata pool: answers one row while `valid`, and counts queries. */
function fakePool(expiresAt: number) {
  const state = { valid: true, queries: 0, hold: undefined as Promise<void> | undefined };
  const pool: SqlQueryable = {
    async query(text: string) {
      // The throttled last-used UPDATE goes through the same pool; only lookups are counted.
      if (text.startsWith("UPDATE")) return { rows: [] };
      state.queries++;
      if (state.hold) await state.hold;
      return {
        rows: state.valid
          ? [{ grant_id: "g1", team_id: "t1", link_id: LINK, user_id: "u1", client_id: "pcc_x", client_name: "X", expires_at: new Date(expiresAt) }]
          : [],
      };
    },
  };
  return { pool, state };
}

describe("AccessTokenVerifier", () => {
  it("routes only access-token-shaped bearers", () => {
    const verifier = new AccessTokenVerifier({ pool: fakePool(0).pool });
    expect(verifier.accepts(token())).toBe(true);
    expect(verifier.accepts("pcs_abcdefgh_" + "a".repeat(43))).toBe(false);
    expect(verifier.accepts("pcr_" + "a".repeat(43))).toBe(false);
  });

  it("caches per token, checks the link and the clock on every call", async () => {
    let now = 1_000_000;
    const { pool, state } = fakePool(now + 60_000);
    const verifier = new AccessTokenVerifier({ pool }, { ttlMs: 30_000, now: () => now });
    const bearer = token();
    expect(await verifier.verify(bearer, LINK)).toMatchObject({ grantId: "g1", clientId: "pcc_x" });
    expect(await verifier.verify(bearer, OTHER)).toBeNull();
    expect(state.queries).toBe(1);
    now += 61_000; // past the token's expiry: refused even though the row would still be returned
    expect(await verifier.verify(bearer, LINK)).toBeNull();
  });

  it("drops a grant's entries on its revocation message, and does not cache a lookup that raced one", async () => {
    const { pool, state } = fakePool(Date.now() + 600_000);
    const verifier = new AccessTokenVerifier({ pool }, { ttlMs: 60_000 });
    const bearer = token();
    expect(await verifier.verify(bearer, LINK)).not.toBeNull();
    state.valid = false;
    verifier.invalidate({ grantId: "g1" });
    expect(await verifier.verify(bearer, LINK)).toBeNull();

    const raced = token();
    state.valid = true;
    let release!: () => void;
    state.hold = new Promise((resolve) => (release = resolve));
    const pending = verifier.verify(raced, LINK);
    verifier.invalidate({ grantId: "g1" }); // arrives while the query is in flight
    release();
    expect(await pending).not.toBeNull();
    state.hold = undefined;
    const before = state.queries;
    await verifier.verify(raced, LINK);
    expect(state.queries).toBe(before + 1); // not served from a cache filled before the revocation
  });
});
