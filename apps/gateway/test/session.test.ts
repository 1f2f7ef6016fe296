import { describe, expect, test } from "vitest";
import { bearerToken } from "../src/auth/strategy.js";
import { HostOriginPolicy } from "../src/http/host-origin.js";
import { TtlCache } from "../src/links/ttl-cache.js";
import { decodeSessionId, encodeSessionId } from "../src/http/mcp/legacy-session.js";

describe("stateless session ids", () => {
  test("carry the client's name and version; any instance can read them", () => {
    const id = encodeSessionId("Claude Desktop", "0.9.1", "2025-06-18");
    expect(id).toMatch(/^[\x21-\x7e]+$/);
    expect(decodeSessionId(id)).toEqual({ clientName: "Claude Desktop", clientVersion: "0.9.1", protocolVersion: "2025-06-18" });
    expect(encodeSessionId("x", "1")).not.toBe(encodeSessionId("x", "1"));
  });
  test("decoded once per id: repeated and many distinct ids each keep their own client, and nothing can alter them", () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => [encodeSessionId(`client ${i}`, String(i)), i] as const);
    for (const round of [1, 2]) {
      for (const [id, i] of ids) expect(decodeSessionId(id), `round ${round}`).toEqual({ clientName: `client ${i}`, clientVersion: String(i), protocolVersion: null });
    }
    const info = decodeSessionId(ids[0]![0]);
    expect(() => ((info as { clientName: string | null }).clientName = "someone else")).toThrow();
    expect(decodeSessionId(ids[0]![0]).clientName).toBe("client 0");
  });
  test("garbage decodes to nothing", () => {
    for (const bad of [undefined, "", "abc", "abc.!!!", `a.${Buffer.from('{"x":1}').toString("base64url")}`, "a".repeat(700)]) {
      expect(decodeSessionId(bad)).toEqual({ clientName: null, clientVersion: null, protocolVersion: null });
    }
  });
  test("ids minted before the revision was carried still decode (revision unknown)", () => {
    const old = `x.${Buffer.from(JSON.stringify(["Cursor", "1.2"])).toString("base64url")}`;
    expect(decodeSessionId(old)).toEqual({ clientName: "Cursor", clientVersion: "1.2", protocolVersion: null });
  });
});

describe("bearer tokens", () => {
  test("parsed from the Authorization header only in the Bearer scheme", () => {
    expect(bearerToken("Bearer pcs_x")).toBe("pcs_x");
    expect(bearerToken("bearer  pcs_x ")).toBe("pcs_x");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken("Bearer a b")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe("Host and Origin checks", () => {
  const policy = new HostOriginPolicy({ publicUrl: "https://mcp.example.com", webUrl: "https://app.example.com", allowedHosts: [], allowedOrigins: [] });
  test("public and loopback hosts pass, others do not", () => {
    expect(policy.hostAllowed({ host: "mcp.example.com" })).toBe(true);
    expect(policy.hostAllowed({ host: "localhost:3001" })).toBe(true);
    expect(policy.hostAllowed({ host: "[::1]:3001" })).toBe(true);
    expect(policy.hostAllowed({ host: "evil.example" })).toBe(false);
    expect(policy.hostAllowed({})).toBe(false);
  });
  test("no Origin passes (non-browser clients); only our origins otherwise", () => {
    expect(policy.originAllowed({})).toBe(true);
    expect(policy.originAllowed({ origin: "https://app.example.com" })).toBe(true);
    expect(policy.originAllowed({ origin: "https://evil.example" })).toBe(false);
  });
});

describe("TtlCache", () => {
  test("expires, bounds its size (oldest first) and refreshes on set", () => {
    let now = 0;
    const cache = new TtlCache<number>(2, () => now);
    cache.set("a", 1, 100);
    cache.set("b", 2, 100);
    cache.set("c", 3, 100);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBe(2);
    now = 150;
    expect(cache.get("c")).toBeUndefined();
    cache.set("d", 4, 100);
    expect(cache.deleteWhere((v) => v === 4)).toBe(1);
    expect(cache.get("d")).toBeUndefined();
    expect(cache.get("b")).toBeUndefined();
  });
});
