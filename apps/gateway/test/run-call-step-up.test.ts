import { describe, expect, test } from "vitest";
import { insufficientScope } from "../src/calls/step-up.js";
import type { CallContext } from "../src/context.js";

const ctx = (grantedScopes: string[] | null) => ({ principal: { grantedScopes } }) as unknown as CallContext;

describe("step-up scopes", () => {
  test("API keys and internal callers (no scopes) are bounded by the link alone", () => {
    expect(insufficientScope(ctx(null), ["ddl"])).toBeNull();
  });

  test("the legacy mcp scope covers read, write and admin", () => {
    expect(insufficientScope(ctx(["mcp"]), ["read", "write", "ddl"])).toBeNull();
  });

  test("each class needs its scope; the challenge lists what is held plus what is missing, closed downwards", () => {
    expect(insufficientScope(ctx(["mcp:read"]), ["read"])).toBeNull();
    expect(insufficientScope(ctx(["mcp:read"]), ["read", "write"])).toMatchObject({ ruleId: "insufficient_scope", needs: "write", stepUpScopes: ["mcp:read", "mcp:write"] });
    // Nested as packages/oauth defines them: write covers read, admin covers both.
    expect(insufficientScope(ctx(["mcp:write"]), ["read"])).toBeNull();
    expect(insufficientScope(ctx(["mcp:admin"]), ["write", "ddl"])).toBeNull();
    expect(insufficientScope(ctx(["mcp:write"]), ["ddl"])).toMatchObject({ needs: "admin", stepUpScopes: ["mcp:read", "mcp:write", "mcp:admin"] });
    expect(insufficientScope(ctx(["mcp:read", "mcp:write"]), ["ddl"])).toMatchObject({ needs: "admin", stepUpScopes: ["mcp:read", "mcp:write", "mcp:admin"] });
    // Other scopes the token holds are kept in the challenge (the client re-asks for the union).
    expect(insufficientScope(ctx(["openid", "mcp:read"]), ["write"])!.stepUpScopes).toEqual(["openid", "mcp:read", "mcp:write"]);
  });

  test("an empty grant needs at least mcp:read, and classes the analyzer does not produce need admin", () => {
    expect(insufficientScope(ctx([]), [])).toMatchObject({ needs: "read", stepUpScopes: ["mcp:read"] });
    expect(insufficientScope(ctx(["mcp:read", "mcp:write"]), ["utility"])).toMatchObject({ needs: "admin" });
    expect(insufficientScope(ctx(["mcp:read", "mcp:write"]), ["transaction"])).toMatchObject({ needs: "admin" });
  });
});
