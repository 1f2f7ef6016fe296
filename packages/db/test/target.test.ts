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
    expect(tlsOptions({ host: "db.example.com", sslMode: "prefer", sslCaCert: null })).toEqual({ rejectUnauthorized: false, servername: "db.example.com" });
    expect(tlsOptions({ host: "127.0.0.1", sslMode: "prefer", sslCaCert: null })).toBe(false);
  });

  it("verifies the chain for verify_ca and the host too for verify_full", () => {
    const ca = tlsOptions({ host: "h", sslMode: "verify_ca", sslCaCert: "PEM" });
    expect(ca).toMatchObject({ rejectUnauthorized: true, ca: ["PEM"] });
    expect(typeof (ca as { checkServerIdentity?: unknown }).checkServerIdentity).toBe("function");
    const full = tlsOptions({ host: "h", sslMode: "verify_full", sslCaCert: "PEM" });
    // The identity check is explicit: the session dials a pinned address or a tunnel, not the name.
    expect(full).toMatchObject({ rejectUnauthorized: true, ca: ["PEM"], servername: "h" });
    expect(typeof (full as { checkServerIdentity?: unknown }).checkServerIdentity).toBe("function");
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

  it("judges 6to4, SIIT and NAT64 addresses by the IPv4 address they carry; discard and documentation prefixes are reserved", () => {
    const cases: [string, string][] = [
      // 6to4 2002:AABB:CCDD::/48 relays to AA.BB.CC.DD
      ["2002:7f00:1::", "loopback"],
      ["2002:a9fe:a9fe::1", "link-local"],
      ["2002:0a00:0001:1::1", "private"],
      ["2002:5db8:d70e::", "public"],
      // SIIT ::ffff:0:0:0/96
      ["::ffff:0:a9fe:a9fe", "link-local"],
      ["::ffff:0:127.0.0.1", "loopback"],
      ["::ffff:0:5db8:d70e", "public"],
      // NAT64 well-known /96 and local-use /48 (every RFC 6052 layout inside it)
      ["64:ff9b::a9fe:a9fe", "link-local"],
      ["64:ff9b::5db8:d70e", "public"],
      ["64:ff9b:1::a9fe:a9fe", "link-local"],
      ["64:ff9b:1:7f00:1::", "loopback"],
      ["64:ff9b:1::a00:1", "private"],
      // a /48-layout public address also reads as 0.0.0.0 in the /96 layout: refused, not guessed
      ["64:ff9b:1:5db8:d7:e00::", "loopback"],
      ["64:ff9b:1::5db8:d70e", "public"],
      // discard-only and documentation
      ["100::1", "reserved"],
      ["100::ffff:1", "reserved"],
      ["2001:db8::1", "reserved"],
      ["2001:db8:ffff::1", "reserved"],
      ["2001:db9::1", "public"],
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
