import { createHmac } from "node:crypto";
import type { ParamSource } from "./types.js";

/** Who is calling, as far as a rewritten statement's parameters need to know. */
export interface RewriteBindings {
  memberId: string | null;
  memberEmail: string | null;
  keyId: string | null;
  linkId: string;
  teamId: string;
  /** Attributes an admin set for this member on this link. */
  attributes: Readonly<Record<string, string>>;
  /** The link's `hash` mask key (maskKeyFor); null when the team has none yet. */
  maskKey: Buffer | null;
}

export type BoundValue = string | readonly string[] | Buffer | null;

const BLOCK = 64; // SHA-256 block size: HMAC pads the key to it

/**
 * The per-link key of the `hash` mask: HMAC-SHA-256(team secret, "mask:" + link id). Stable for a link
 * (the same value hashes the same in every call and every member's session), not joinable across links.
 */
export function maskKeyFor(teamSecret: Buffer, linkId: string): Buffer {
  return createHmac("sha256", teamSecret).update(`mask:${linkId}`).digest();
}

function pad(key: Buffer, byte: number): Buffer {
  const out = Buffer.alloc(BLOCK, byte);
  for (let i = 0; i < key.length; i++) out[i]! ^= key[i]!;
  return out;
}

/**
 * The values of a rewrite's parameters, in order. A missing attribute binds NULL, so a filter comparing
 * with it is never true: no rows, as a missing attribute must mean. Without a mask key a `hash` mask
 * would bind NULL pads, which the SQL turns into NULL hashes — fail closed, never the clear value.
 */
export function bindRewriteParams(params: readonly ParamSource[], who: RewriteBindings): BoundValue[] {
  return params.map((p): BoundValue => {
    switch (p.kind) {
      case "member.id":
        return who.memberId;
      case "member.email":
        return who.memberEmail;
      case "key.id":
        return who.keyId;
      case "link.id":
        return who.linkId;
      case "team.id":
        return who.teamId;
      case "member.attr":
        return Object.hasOwn(who.attributes, p.name) ? who.attributes[p.name]! : null;
      case "mask_key_inner":
        return who.maskKey ? pad(who.maskKey, 0x36) : null;
      case "mask_key_outer":
        return who.maskKey ? pad(who.maskKey, 0x5c) : null;
      case "constant":
        return p.value;
    }
  });
}
