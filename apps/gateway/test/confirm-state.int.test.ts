import { createRedis } from "@portcullis/jobs";
import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { freePort, testRedisUrl } from "@portcullis/db/testing";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createLogger } from "../src/logger.js";
import { ConfirmationBroker } from "../src/mcp/confirmation-broker.js";
import { RequestStateCodec, answerOf, bindingMismatch, declaresFormElicitation, statementHashOf, type StateBinding } from "../src/mcp/confirmation.js";

/** The confirmation's moving parts on their own: the signed state, single use, and answers routed between two instances through real Redis. */
const binding: StateBinding = { requestId: "wr_1", teamId: "t1", linkId: "l1", subject: "key_a", statementHash: statementHashOf({ sql: "DELETE FROM invoice WHERE invoice_id = $1", params: [7] }) };

describe("requestState", () => {
  const codec = new RequestStateCodec(getKeyring(generateSecretKey("k1")));

  test("verifies what it minted; any change, another deployment's key, or expiry is refused", () => {
    const { token, claims } = codec.mint(binding, Date.now() + 60_000);
    const check = codec.verify(token);
    expect(check).toEqual({ ok: true, claims });
    expect(claims).toMatchObject({ requestId: binding.requestId, statementHash: binding.statementHash });
    // The client can read the state: it names no team, link or key id, only a digest of them.
    const readable = Buffer.from(token.split(".")[2]!, "base64url").toString();
    for (const id of [binding.teamId, binding.linkId, binding.subject]) expect(readable).not.toContain(`"${id}"`);

    const [prefix, keyId, payload, signature] = token.split(".") as [string, string, string, string];
    // The client edits the claims (another request id) and keeps the signature: forged.
    const edited = Buffer.from(JSON.stringify({ ...claims, requestId: "wr_2" })).toString("base64url");
    expect(codec.verify([prefix, keyId, edited, signature].join("."))).toEqual({ ok: false, reason: "forged" });
    // A state minted with another secret (another deployment, or a guess) does not verify.
    const other = new RequestStateCodec(getKeyring(generateSecretKey("k1")));
    expect(codec.verify(other.mint(binding, Date.now() + 60_000).token)).toEqual({ ok: false, reason: "forged" });
    // A signature flipped in one character, a truncated token, garbage, a non-string.
    const flipped = signature.slice(0, -1) + (signature.endsWith("A") ? "B" : "A");
    expect(codec.verify([prefix, keyId, payload, flipped].join(".")).ok).toBe(false);
    // Every other spelling of the last character (its low bits are unused by base64url) is refused too.
    for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
      if (c !== signature.at(-1)) expect(codec.verify([prefix, keyId, payload, signature.slice(0, -1) + c].join(".")).ok).toBe(false);
    const middle = signature.slice(0, 10) + (signature[10] === "A" ? "B" : "A") + signature.slice(11);
    expect(codec.verify([prefix, keyId, payload, middle].join(".")).ok).toBe(false);
    expect(codec.verify(token.slice(0, -10)).ok).toBe(false);
    expect(codec.verify("pcs1.k1.e30.AAAA")).toEqual({ ok: false, reason: "forged" });
    expect(codec.verify({ token })).toEqual({ ok: false, reason: "malformed" });
    expect(codec.verify("x".repeat(5000))).toEqual({ ok: false, reason: "malformed" });

    const expired = codec.mint(binding, Date.now() + 1_000).token;
    expect(codec.verify(expired, Date.now() + 2_000)).toEqual({ ok: false, reason: "expired" });
  });

  test("the binding: team, link, key and statement each decide", () => {
    const { claims } = codec.mint(binding, Date.now() + 60_000);
    const same = { teamId: "t1", linkId: "l1", subject: "key_a", statementHash: binding.statementHash };
    expect(bindingMismatch(claims, same)).toBeNull();
    expect(bindingMismatch(claims, { ...same, teamId: "t2" })).toMatch(/another key, client or link/);
    expect(bindingMismatch(claims, { ...same, linkId: "l2" })).toMatch(/another key, client or link/);
    expect(bindingMismatch(claims, { ...same, subject: "key_b" })).toMatch(/another key/);
    expect(bindingMismatch(claims, { ...same, statementHash: statementHashOf({ sql: "DELETE FROM invoice WHERE invoice_id = $1", params: [8] }) })).toMatch(/differ/);
    expect(bindingMismatch(claims, { ...same, statementHash: statementHashOf({ sql: "DELETE FROM invoice WHERE invoice_id = $1 OR true", params: [7] }) })).toMatch(/differ/);
  });

  test("only accept with confirm: true is a yes; capabilities are read as the SDK reads them", () => {
    expect(answerOf({ action: "accept", content: { confirm: true } })).toBe("confirm");
    for (const no of [{ action: "accept", content: { confirm: false } }, { action: "accept", content: { confirm: "true" } }, { action: "accept" }, { action: "decline" }, { action: "cancel" }, null, "yes", { action: "ACCEPT", content: { confirm: true } }]) {
      expect(answerOf(no), JSON.stringify(no)).toBe("decline");
    }
    expect(declaresFormElicitation({ elicitation: {} })).toBe(true);
    expect(declaresFormElicitation({ elicitation: { form: {} } })).toBe(true);
    expect(declaresFormElicitation({ elicitation: { url: {} } })).toBe(false);
    expect(declaresFormElicitation({ sampling: {} })).toBe(false);
    expect(declaresFormElicitation(undefined)).toBe(false);
  });
});

describe("broker across two instances (real Redis)", () => {
  const keyring = getKeyring(generateSecretKey("k1"));
  const logger = createLogger("silent");
  const connections: Redis[] = [];
  let a: ConfirmationBroker;
  let b: ConfirmationBroker;
  const redis = () => {
    const r = createRedis(testRedisUrl(), "subscriber");
    connections.push(r);
    return r;
  };
  beforeAll(async () => {
    a = new ConfirmationBroker(keyring, redis(), redis(), logger);
    b = new ConfirmationBroker(keyring, redis(), redis(), logger);
    await new Promise((r) => setTimeout(r, 300)); // both subscribed
  });
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
  });

  test("a requestState nonce is consumed once, whichever instance sees it", async () => {
    const { claims } = a.codec.mint(binding, Date.now() + 60_000);
    const results = await Promise.all([a.consume(claims.nonce, 60_000), b.consume(claims.nonce, 60_000), a.consume(claims.nonce, 60_000)]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test("an answer posted to the other instance reaches the waiting call; another key's answer does not", async () => {
    const owner = { linkId: "l1", subject: "key_a" };
    const waiter = a.wait(owner, 5_000);
    await waiter.registered;
    expect(await b.deliver({ linkId: "l1", subject: "key_b" }, { id: waiter.id, result: { action: "accept", content: { confirm: true } } } as never)).toBe("foreign");
    expect(await b.deliver({ linkId: "l2", subject: "key_a" }, { id: waiter.id } as never)).toBe("foreign");
    expect(await a.deliver({ linkId: "l1", subject: "key_b" }, { id: waiter.id } as never)).toBe("foreign");
    expect(await b.deliver(owner, { id: `${waiter.id}x`, result: {} } as never)).toBe("unknown");
    expect(await b.deliver(owner, { id: 7 } as never)).toBe("not_ours");
    expect(await b.deliver(owner, { id: waiter.id, result: { action: "decline" } } as never)).toBe("delivered");
    expect(await waiter.result).toEqual({ kind: "answered", response: { action: "decline" } });
    expect(a.waiting).toBe(0);
    // Answered: its record is gone (deleted just after), a second answer finds nothing.
    let second = await b.deliver(owner, { id: waiter.id, result: { action: "accept", content: { confirm: true } } } as never);
    for (let i = 0; second !== "unknown" && i < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      second = await b.deliver(owner, { id: waiter.id, result: { action: "accept", content: { confirm: true } } } as never);
    }
    expect(second).toBe("unknown");
  });

  test("no answer: the wait ends at its timeout, or when the call's client goes away", async () => {
    const owner = { linkId: "l1", subject: "key_a" };
    const started = Date.now();
    expect(await a.wait(owner, 300).result).toEqual({ kind: "timeout" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const controller = new AbortController();
    const waiter = a.wait(owner, 60_000, controller.signal);
    setTimeout(() => controller.abort(), 50);
    expect(await waiter.result).toEqual({ kind: "aborted" });
    expect(a.waiting).toBe(0);
  });
});

describe("broker without Redis", () => {
  test("single use cannot be checked: consume rejects (the retry is refused); a waiter still takes an answer posted to its own instance", async () => {
    const port = await freePort();
    const down = createRedis(`redis://127.0.0.1:${port}`, "producer");
    const sub = createRedis(`redis://127.0.0.1:${port}`, "producer");
    down.on("error", () => {});
    sub.on("error", () => {});
    try {
      const broker = new ConfirmationBroker(getKeyring(generateSecretKey("k1")), down, sub, createLogger("silent"));
      await expect(broker.consume("n".repeat(22), 60_000)).rejects.toThrow();
      const owner = { linkId: "l1", subject: "key_a" };
      const waiter = broker.wait(owner, 5_000);
      await waiter.registered;
      expect(await broker.deliver({ linkId: "l1", subject: "key_b" }, { id: waiter.id } as never)).toBe("foreign");
      expect(await broker.deliver(owner, { id: waiter.id, result: { action: "decline" } } as never)).toBe("delivered");
      expect(await waiter.result).toEqual({ kind: "answered", response: { action: "decline" } });
    } finally {
      down.disconnect();
      sub.disconnect();
    }
  });
});
