import { describe, expect, it } from "vitest";
import { classifyAddress, normalizeAddress, parseTargetUrl, tlsOptions } from "../src/target.js";
import { mcpClientConfigs } from "../src/mcp-client-config.js";

describe("parseTargetUrl", () => {
  it("parses a full URL with an encoded password and sslmode", () => {
    expect(parseTargetUrl("postgresql://app:p%40ss@db.example.com:6543/sales?sslmode=verify-full")).toEqual({
      host: "db.example.com",
      port: 6543,
      database: "sales",
      username: "app",
      password: "p@ss",
      sslMode: "verify_full",
    });
  });

  it("defaults the port and SSL mode", () => {
    const parsed = parseTargetUrl("postgres://u@h/d");
    expect(parsed.port).toBe(5432);
    expect(parsed.sslMode).toBe("prefer");
  });

  it("explains what is wrong", () => {
    expect(() => parseTargetUrl("mysql://u@h/d")).toThrow(/unsupported scheme/);
    expect(() => parseTargetUrl("postgresql://u@h")).toThrow(/no database/);
    expect(() => parseTargetUrl("not a url")).toThrow(/not a valid URL/);
    expect(() => parseTargetUrl("postgresql://u@h/d?sslmode=sometimes")).toThrow(/unknown sslmode/);
  });
});

describe("tlsOptions", () => {
  it("never sends a remote password in plaintext under prefer", () => {
    expect(tlsOptions({ host: "db.example.com", sslMode: "prefer", sslCaCert: null })).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions({ host: "127.0.0.1", sslMode: "prefer", sslCaCert: null })).toBe(false);
  });

  it("verifies the chain for verify_ca and the host too for verify_full", () => {
    const ca = tlsOptions({ host: "h", sslMode: "verify_ca", sslCaCert: "PEM" });
    expect(ca).toMatchObject({ rejectUnauthorized: true, ca: "PEM" });
    expect(typeof (ca as { checkServerIdentity?: unknown }).checkServerIdentity).toBe("function");
    const full = tlsOptions({ host: "h", sslMode: "verify_full", sslCaCert: "PEM" });
    expect(full).toEqual({ rejectUnauthorized: true, ca: "PEM" });
  });
});

describe("mcpClientConfigs", () => {
  it("gives each client a snippet carrying the URL and key", () => {
    const configs = mcpClientConfigs({ name: "demo", url: "http://gw/mcp/1", apiKey: "pcs_abcdefgh_x" });
    expect(configs.map((c) => c.client)).toEqual(["cursor", "claude-code", "claude-desktop", "vscode"]);
    for (const config of configs) {
      expect(config.snippet).toContain("http://gw/mcp/1");
      expect(config.snippet).toContain("pcs_abcdefgh_x");
      if (config.language === "json") expect(() => JSON.parse(config.snippet)).not.toThrow();
    }
  });

  it("omits headers when the client signs in with OAuth", () => {
    for (const config of mcpClientConfigs({ name: "demo", url: "http://gw/mcp/1" })) {
      expect(config.snippet).not.toContain("Authorization");
    }
  });
});

describe("classifyAddress", () => {
  it("puts every spelling of this machine, link-local and private networks in their class", () => {
    const cases: [string, string][] = [
      ["127.0.0.1", "loopback"],
      ["127.1.2.3", "loopback"],
      ["0.0.0.0", "loopback"],
      ["::1", "loopback"],
      ["::", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["0:0:0:0:0:ffff:7f00:0001", "loopback"],
      ["64:ff9b::127.0.0.1", "loopback"],
      ["169.254.169.254", "link-local"],
      ["fe80::1%eth0", "link-local"],
      ["::ffff:169.254.169.254", "link-local"],
      ["10.0.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "private"],
      ["fd12:3456::1", "private"],
      ["224.0.0.251", "reserved"],
      ["255.255.255.255", "reserved"],
      ["ff02::1", "reserved"],
      ["not-an-address", "reserved"],
      ["93.184.215.14", "public"],
      ["172.32.0.1", "public"],
      ["2606:4700::1111", "public"],
    ];
    for (const [address, cls] of cases) expect(classifyAddress(address), address).toBe(cls);
  });

  it("spells IPv4 embedded in IPv6 as IPv4, so an allowance or a Redis address matches every spelling", () => {
    expect(normalizeAddress("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(normalizeAddress("::FFFF:0a01:0203")).toBe("10.1.2.3");
    expect(normalizeAddress("2001:DB8::1")).toBe("2001:db8:0:0:0:0:0:1");
    expect(normalizeAddress("10.1.2.3")).toBe("10.1.2.3");
  });
});
