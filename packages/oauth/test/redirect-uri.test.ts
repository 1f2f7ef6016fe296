import { describe, expect, it } from "vitest";
import { checkRedirectUri, matchRedirectUri } from "../src/redirect-uri.js";

describe("redirect URI validation", () => {
  it("allows https, loopback http and private-use schemes", () => {
    expect(checkRedirectUri("https://claude.ai/api/mcp/auth_callback")).toBeNull();
    expect(checkRedirectUri("http://127.0.0.1:33418/")).toBeNull();
    expect(checkRedirectUri("http://localhost:6274/oauth/callback")).toBeNull();
    expect(checkRedirectUri("http://[::1]:8080/cb")).toBeNull();
    expect(checkRedirectUri("cursor://anysphere.cursor-retrieval/oauth/user-portcullis/callback")).toBeNull();
  });

  it("refuses what would leak the code or run script", () => {
    expect(checkRedirectUri("http://evil.example/cb")).toBe("http_not_loopback");
    expect(checkRedirectUri("http://127.0.0.1.evil.example/cb")).toBe("http_not_loopback");
    expect(checkRedirectUri("javascript:alert(1)")).toBe("forbidden_scheme");
    expect(checkRedirectUri("data:text/html,hi")).toBe("forbidden_scheme");
    expect(checkRedirectUri("file:///etc/passwd")).toBe("forbidden_scheme");
    expect(checkRedirectUri("https://app.example/cb#frag")).toBe("has_fragment");
    expect(checkRedirectUri("https://user:pw@app.example/cb")).toBe("has_credentials");
    expect(checkRedirectUri("not a url")).toBe("not_a_url");
  });
});

describe("redirect URI matching", () => {
  const registered = ["https://app.example/callback", "http://127.0.0.1/callback", "http://localhost:3000/cb?x=1"];

  it("matches exactly", () => {
    expect(matchRedirectUri(registered, "https://app.example/callback")).toBe(true);
    expect(matchRedirectUri(registered, "https://app.example/callback/")).toBe(false);
    expect(matchRedirectUri(registered, "https://app.example/Callback")).toBe(false);
    expect(matchRedirectUri(registered, "https://app.example/callback?next=/")).toBe(false);
    expect(matchRedirectUri(registered, "https://app.example:443/callback")).toBe(false);
    expect(matchRedirectUri(registered, "https://APP.example/callback")).toBe(false);
    expect(matchRedirectUri(registered, "https://evil.example/callback")).toBe(false);
  });

  it("ignores only the port of loopback http URIs (RFC 8252 §7.3)", () => {
    expect(matchRedirectUri(registered, "http://127.0.0.1:54321/callback")).toBe(true);
    expect(matchRedirectUri(registered, "http://127.0.0.1/callback")).toBe(true);
    expect(matchRedirectUri(registered, "http://localhost:9999/cb?x=1")).toBe(true);
    expect(matchRedirectUri(registered, "http://127.0.0.1:54321/other")).toBe(false);
    expect(matchRedirectUri(registered, "http://127.0.0.1:54321/callback?x=1")).toBe(false);
    // Another loopback name is another URI: no cross-host matching.
    expect(matchRedirectUri(registered, "http://localhost:54321/callback")).toBe(false);
    expect(matchRedirectUri(registered, "http://localhost:9999/cb?x=2")).toBe(false);
    // The port allowance never extends to https or to other hosts.
    expect(matchRedirectUri(["https://app.example/callback"], "https://app.example:8443/callback")).toBe(false);
    expect(matchRedirectUri(["http://127.0.0.1/callback"], "http://127.0.0.1@evil.example/callback")).toBe(false);
  });

  it("never matches an invalid requested URI even if registered", () => {
    expect(matchRedirectUri(["javascript:alert(1)"], "javascript:alert(1)")).toBe(false);
  });
});
