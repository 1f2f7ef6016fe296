import { describe, expect, it } from "vitest";
import { addedScopes, checkApplicationType, intersectScopes, isLocalhostOnly, normalizeScopes, requestedScopes, unionScopes } from "../src/index.js";

describe("scopes", () => {
  it("expands legacy mcp, closes downwards, ignores unknown words", () => {
    expect(normalizeScopes("mcp")).toEqual(["mcp:read", "mcp:write", "mcp:admin"]);
    expect(normalizeScopes("mcp:write")).toEqual(["mcp:read", "mcp:write"]);
    expect(normalizeScopes("openid mcp:read profile")).toEqual(["mcp:read"]);
    expect(normalizeScopes("MCP:ADMIN mcp:readx")).toEqual([]);
    expect(normalizeScopes(null)).toEqual([]);
  });

  it("defaults to all three when nothing known is asked (existing clients)", () => {
    expect(requestedScopes(null)).toEqual(["mcp:read", "mcp:write", "mcp:admin"]);
    expect(requestedScopes("openid")).toEqual(["mcp:read", "mcp:write", "mcp:admin"]);
    expect(requestedScopes("mcp:read")).toEqual(["mcp:read"]);
  });

  it("unites, intersects and names what is added", () => {
    expect(unionScopes(["mcp:read"], ["mcp:write"])).toEqual(["mcp:read", "mcp:write"]);
    expect(intersectScopes(["mcp:admin"], ["mcp:read"])).toEqual(["mcp:read"]);
    expect(addedScopes(["mcp:read"], ["mcp:read", "mcp:write"])).toEqual(["mcp:write"]);
    expect(addedScopes(["mcp"], ["mcp:write"])).toEqual([]);
  });
});

describe("application_type (SEP-837)", () => {
  it("infers the type from the redirect URIs when absent", () => {
    expect(checkApplicationType(undefined, ["http://127.0.0.1/cb"])).toEqual({ type: "native", problem: null });
    expect(checkApplicationType(undefined, ["cursor://anysphere/cb"])).toEqual({ type: "native", problem: null });
    expect(checkApplicationType(undefined, ["https://app.example.com/cb"])).toEqual({ type: "web", problem: null });
  });

  it("refuses loopback or private schemes for web, and hosted https for native", () => {
    expect(checkApplicationType("web", ["http://localhost:3000/cb"]).problem).toMatch(/web/);
    expect(checkApplicationType("web", ["https://localhost/cb"]).problem).toMatch(/web/);
    expect(checkApplicationType("web", ["myapp://cb"]).problem).toMatch(/web/);
    expect(checkApplicationType("native", ["https://app.example.com/cb"]).problem).toMatch(/native/);
    expect(checkApplicationType("native", ["http://[::1]:5000/cb", "myapp://cb"]).problem).toBeNull();
  });

  it("tells localhost-only clients apart", () => {
    expect(isLocalhostOnly(["http://127.0.0.1/cb", "http://localhost:1/cb"])).toBe(true);
    expect(isLocalhostOnly(["http://127.0.0.1/cb", "https://app.example.com/cb"])).toBe(false);
    expect(isLocalhostOnly([])).toBe(false);
  });
});
