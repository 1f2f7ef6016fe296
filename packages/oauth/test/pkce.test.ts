import { describe, expect, it } from "vitest";
import { checkCodeChallenge, s256Challenge, verifyCodeVerifier } from "../src/pkce.js";

// RFC 7636 Appendix B's example pair.
const VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

describe("PKCE", () => {
  it("computes the RFC 7636 S256 challenge", () => {
    expect(s256Challenge(VERIFIER)).toBe(CHALLENGE);
  });

  it("accepts only S256 challenges", () => {
    expect(checkCodeChallenge(CHALLENGE, "S256")).toBeNull();
    expect(checkCodeChallenge(CHALLENGE, "plain")).toBe("unsupported_method");
    // Absent method means plain in RFC 7636, so it is refused too.
    expect(checkCodeChallenge(CHALLENGE, null)).toBe("unsupported_method");
    expect(checkCodeChallenge(null, "S256")).toBe("missing_challenge");
    expect(checkCodeChallenge("short", "S256")).toBe("malformed_challenge");
    expect(checkCodeChallenge(`${CHALLENGE}=`, "S256")).toBe("malformed_challenge");
  });

  it("verifies the verifier against the challenge", () => {
    expect(verifyCodeVerifier(VERIFIER, CHALLENGE)).toBe(true);
    expect(verifyCodeVerifier(`${VERIFIER.slice(0, -1)}Y`, CHALLENGE)).toBe(false);
    expect(verifyCodeVerifier(undefined, CHALLENGE)).toBe(false);
    expect(verifyCodeVerifier("", CHALLENGE)).toBe(false);
    // A plain-style attempt (the challenge itself as verifier) fails.
    expect(verifyCodeVerifier(CHALLENGE, CHALLENGE)).toBe(false);
  });

  it("refuses verifiers outside RFC 7636's length and alphabet", () => {
    const short = "a".repeat(42);
    expect(verifyCodeVerifier(short, s256Challenge(short))).toBe(false);
    const long = "a".repeat(129);
    expect(verifyCodeVerifier(long, s256Challenge(long))).toBe(false);
    const odd = `${"a".repeat(43)} `;
    expect(verifyCodeVerifier(odd, s256Challenge(odd))).toBe(false);
    const max = "~".repeat(128);
    expect(verifyCodeVerifier(max, s256Challenge(max))).toBe(true);
  });
});
