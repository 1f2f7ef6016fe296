import { describe, expect, it } from "vitest";
import { clientIp } from "../src/client-ip.js";

describe("clientIp", () => {
  it("ignores X-Forwarded-For entirely when no proxy is trusted (the default)", () => {
    expect(clientIp("198.51.100.4", "1.2.3.4", 0)).toBe("198.51.100.4");
    expect(clientIp("198.51.100.4", ["1.2.3.4", "5.6.7.8"], 0)).toBe("198.51.100.4");
  });

  it("with one trusted hop, takes the address the proxy appended, not what the client wrote before it", () => {
    // Client forged "1.2.3.4"; the proxy appended the real peer 203.0.113.9.
    expect(clientIp("10.0.0.2", "1.2.3.4, 203.0.113.9", 1)).toBe("203.0.113.9");
    expect(clientIp("10.0.0.2", "203.0.113.9", 1)).toBe("203.0.113.9");
  });

  it("with two trusted hops, walks two entries from the right", () => {
    expect(clientIp("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.1", 2)).toBe("203.0.113.9");
    expect(clientIp("10.0.0.2", ["6.6.6.6, 203.0.113.9", "10.0.0.1"], 2)).toBe("203.0.113.9");
  });

  it("never goes further left than the header reaches, and stops at garbage", () => {
    expect(clientIp("10.0.0.2", undefined, 3)).toBe("10.0.0.2");
    expect(clientIp("10.0.0.2", "203.0.113.9", 3)).toBe("203.0.113.9");
    expect(clientIp("10.0.0.2", "6.6.6.6, not-an-ip", 2)).toBe("10.0.0.2");
    expect(clientIp("10.0.0.2", "", 1)).toBe("10.0.0.2");
  });

  it("normalises ports, brackets, zones and IPv4-mapped IPv6", () => {
    expect(clientIp("::ffff:127.0.0.1", null, 0)).toBe("127.0.0.1");
    expect(clientIp("10.0.0.2", "203.0.113.9:5123", 1)).toBe("203.0.113.9");
    expect(clientIp("10.0.0.2", "[2001:DB8::1]:443", 1)).toBe("2001:db8::1");
    expect(clientIp("fe80::1%eth0", null, 0)).toBe("fe80::1");
  });

  it("answers null when the peer is unknown, whatever the header says", () => {
    expect(clientIp(undefined, "1.2.3.4", 1)).toBeNull();
    expect(clientIp("garbage", "1.2.3.4", 1)).toBeNull();
  });

  it("does not let a huge header cost more than its tail", () => {
    const header = `${"9.9.9.9, ".repeat(100_000)}203.0.113.9`;
    expect(clientIp("10.0.0.2", header, 1)).toBe("203.0.113.9");
  });
});
