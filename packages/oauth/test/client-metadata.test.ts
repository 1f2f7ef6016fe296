import { describe, expect, it } from "vitest";
import { ClientMetadataFetchError, checkClientIdUrl, fetchClientMetadataDocument, validateClientMetadataDocument } from "../src/client-metadata.js";
import { authorizationServerMetadata, openidConfiguration } from "../src/metadata.js";
import { createOAuthConfig } from "../src/config.js";
import { linkIdFromAnyResource, linkIdFromResource } from "../src/resource.js";

const URL_ID = "https://client.example/oauth/metadata.json";
const good = { client_id: URL_ID, client_name: "Example", redirect_uris: ["http://127.0.0.1/callback"] };

describe("client_id URLs", () => {
  it("accepts https URLs with a path", () => {
    expect(checkClientIdUrl(URL_ID)).toBeNull();
  });
  it("refuses anything else", () => {
    expect(checkClientIdUrl("http://client.example/meta.json")).toBe("not_https");
    expect(checkClientIdUrl("https://client.example/")).toBe("no_path");
    expect(checkClientIdUrl("https://client.example")).toBe("no_path");
    expect(checkClientIdUrl("https://client.example/a#b")).toBe("has_fragment");
    expect(checkClientIdUrl("https://u:p@client.example/a")).toBe("has_credentials");
    expect(checkClientIdUrl("https://client.example/a/../b")).toBe("dot_segment");
    expect(checkClientIdUrl("https://client.example/./b")).toBe("dot_segment");
    expect(checkClientIdUrl(`https://client.example/${"a".repeat(2100)}`)).toBe("too_long");
    expect(checkClientIdUrl("https://")).toBe("not_a_url");
  });
  it("allows http only under an explicitly relaxed policy", () => {
    expect(checkClientIdUrl("http://127.0.0.1:4000/meta.json", { requireHttps: false })).toBeNull();
  });
});

describe("client metadata documents", () => {
  it("accepts a minimal valid document", () => {
    expect(validateClientMetadataDocument(URL_ID, good).client_name).toBe("Example");
  });
  it("requires the document to name itself", () => {
    expect(() => validateClientMetadataDocument(URL_ID, { ...good, client_id: "https://other.example/meta.json" })).toThrow(/does not equal its URL/);
  });
  it("refuses dangerous or unsupported content", () => {
    const bad = [
      { ...good, redirect_uris: [] },
      { ...good, redirect_uris: ["javascript:alert(1)"] },
      { ...good, redirect_uris: ["http://evil.example/cb"] },
      { ...good, token_endpoint_auth_method: "client_secret_basic" },
      { ...good, client_secret: "s3cret" },
      { ...good, grant_types: ["implicit"] },
      { ...good, response_types: ["token"] },
      { ...good, logo_uri: "http://client.example/logo.png" },
      "a string",
      null,
    ];
    for (const document of bad) {
      expect(() => validateClientMetadataDocument(URL_ID, document), JSON.stringify(document)).toThrow(ClientMetadataFetchError);
    }
  });
  it("refuses plain http and private targets before any connection (production policy)", async () => {
    await expect(fetchClientMetadataDocument("http://client.example/meta.json")).rejects.toMatchObject({ reason: "invalid_url" });
    await expect(fetchClientMetadataDocument("https://127.0.0.1/meta.json")).rejects.toMatchObject({ reason: "address_refused" });
    await expect(fetchClientMetadataDocument("https://[::1]/meta.json")).rejects.toMatchObject({ reason: "address_refused" });
    await expect(fetchClientMetadataDocument("https://169.254.169.254/latest/meta-data")).rejects.toMatchObject({ reason: "address_refused" });
  });
});

describe("metadata and resources", () => {
  const config = createOAuthConfig({ issuer: "https://dash.example/", gatewayPublicUrl: "https://mcp.example" });
  it("advertises S256 only, public clients and metadata documents", () => {
    const metadata = authorizationServerMetadata(config);
    expect(metadata.issuer).toBe("https://dash.example");
    expect(metadata.code_challenge_methods_supported).toEqual(["S256"]);
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(["none"]);
    expect(metadata.client_id_metadata_document_supported).toBe(true);
    expect(metadata.token_endpoint).toBe("https://dash.example/oauth/token");
    expect(openidConfiguration(config).jwks_uri).toBe("https://dash.example/.well-known/jwks.json");
  });
  it("maps resource indicators to links of this gateway only", () => {
    const id = "0b6a3c1e-5f1d-4c59-9d3b-2a1f1e0d9c8b";
    expect(linkIdFromResource(config, `https://mcp.example/mcp/${id}`)).toBe(id);
    expect(linkIdFromResource(config, `https://mcp.example/mcp/${id}/`)).toBe(id);
    expect(linkIdFromResource(config, `https://evil.example/mcp/${id}`)).toBeNull();
    expect(linkIdFromResource(config, `https://mcp.example/mcp/${id}?x=1`)).toBeNull();
    expect(linkIdFromResource(config, `https://mcp.example/mcp/${id}#f`)).toBeNull();
    expect(linkIdFromResource(config, "https://mcp.example/mcp/not-a-uuid")).toBeNull();
    expect(linkIdFromAnyResource(`http://localhost:3001/mcp/${id.toUpperCase()}`)).toBe(id);
  });
});
