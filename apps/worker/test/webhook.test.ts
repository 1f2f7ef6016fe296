import { createHmac } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { classifyStatus, resolveWebhookAddress, sendWebhook, signWebhook } from "../src/notify/webhook.js";

interface Seen {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_req, res) => res.end("ok");

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ path: req.url ?? "", headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const request = (over: Partial<Parameters<typeof sendWebhook>[0]> = {}) => ({
  url: `${base}/hook`,
  secret: "whsec_test",
  event: "write_request.created",
  deliveryId: "3f1d6a0e-0000-4000-8000-000000000001",
  body: JSON.stringify({ hello: "world" }),
  timeoutMs: 2000,
  allowPrivate: true,
  ...over,
});

test("a delivered webhook carries the event, the delivery id and a signature the receiver can verify over the raw body", async () => {
  seen.length = 0;
  handler = (_req, res) => res.writeHead(204).end();
  const result = await sendWebhook(request({ now: () => 1_800_000_000_123 }));
  expect(result).toEqual({ outcome: "delivered", status: 204, error: null });
  expect(seen).toHaveLength(1);
  const h = seen[0]!.headers;
  expect(h["content-type"]).toBe("application/json");
  expect(h["user-agent"]).toBe("Portcullis-Webhooks/1");
  expect(h["portcullis-event"]).toBe("write_request.created");
  expect(h["portcullis-delivery"]).toBe("3f1d6a0e-0000-4000-8000-000000000001");
  const [t, v1] = String(h["portcullis-signature"]).split(",");
  expect(t).toBe("t=1800000000");
  expect(v1).toBe(`v1=${createHmac("sha256", "whsec_test").update(`1800000000.${seen[0]!.body}`).digest("hex")}`);
  // Another secret, or another body, does not verify.
  expect(signWebhook("other", seen[0]!.body, 1_800_000_000)).not.toBe(h["portcullis-signature"]);
  expect(signWebhook("whsec_test", seen[0]!.body + " ", 1_800_000_000)).not.toBe(h["portcullis-signature"]);
});

test("statuses: 2xx delivered; 408, 429 and 5xx retried; other 4xx and 3xx final", () => {
  expect([200, 201, 299].map(classifyStatus)).toEqual(["delivered", "delivered", "delivered"]);
  expect([408, 429, 500, 502, 503].map(classifyStatus)).toEqual(["retry", "retry", "retry", "retry", "retry"]);
  expect([301, 302, 400, 401, 403, 404, 410, 422].map(classifyStatus)).toEqual(Array(8).fill("failed"));
});

test("a redirect is never followed", async () => {
  seen.length = 0;
  handler = (req, res) => (req.url === "/hook" ? res.writeHead(302, { Location: `${base}/elsewhere` }).end() : res.end("followed"));
  const result = await sendWebhook(request());
  expect(result.outcome).toBe("failed");
  expect(result.status).toBe(302);
  expect(result.error).toContain("redirects are not followed");
  expect(seen.map((s) => s.path)).toEqual(["/hook"]);
});

test("a receiver that does not answer in time is cut off and retried later", async () => {
  handler = () => {}; // never answers
  const started = Date.now();
  const result = await sendWebhook(request({ timeoutMs: 300 }));
  expect(Date.now() - started).toBeLessThan(2000);
  expect(result).toMatchObject({ outcome: "retry", status: null });
  expect(result.error).toContain("300 ms");
});

test("a refused connection is retried, its error recorded", async () => {
  const result = await sendWebhook(request({ url: "http://127.0.0.1:1/hook" }));
  expect(result).toMatchObject({ outcome: "retry", status: null });
  expect(result.error).toContain("ECONNREFUSED");
});

test("loopback, private, link-local and mapped addresses are refused without the operator flag; nothing is sent", async () => {
  seen.length = 0;
  handler = (_req, res) => res.end("ok");
  const refused = await sendWebhook(request({ allowPrivate: false }));
  expect(refused.outcome).toBe("failed");
  expect(refused.error).toContain("loopback");
  expect(seen).toHaveLength(0);

  const only = (address: string) => async () => [{ address, family: address.includes(":") ? 6 : 4 }];
  for (const address of ["127.0.0.1", "10.1.2.3", "192.168.1.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00::1", "100.64.0.1"]) {
    const check = await resolveWebhookAddress("hooks.example.com", false, only(address));
    expect(check, address).toMatchObject({ ok: false, permanent: true });
  }
  // A name answering with one public and one loopback address is refused as a whole.
  const mixed = await resolveWebhookAddress("hooks.example.com", false, async () => [
    { address: "93.184.216.34", family: 4 },
    { address: "127.0.0.1", family: 4 },
  ]);
  expect(mixed).toMatchObject({ ok: false, permanent: true });
  // Multicast and reserved addresses never, even with the flag.
  expect(await resolveWebhookAddress("224.0.0.1", true)).toMatchObject({ ok: false });
  expect(await resolveWebhookAddress("hooks.example.com", false, only("93.184.216.34"))).toEqual({ ok: true, address: "93.184.216.34", family: 4 });
  // A name that does not resolve is retried (DNS may come back), not given up.
  expect(
    await resolveWebhookAddress("hooks.example.com", false, async () => {
      throw Object.assign(new Error("nope"), { code: "ENOTFOUND" });
    }),
  ).toMatchObject({ ok: false, permanent: false });
});

test("the connection goes to the address checked, not to a second resolution", async () => {
  seen.length = 0;
  handler = (_req, res) => res.end("ok");
  let calls = 0;
  const port = (server.address() as AddressInfo).port;
  const result = await sendWebhook(
    request({
      url: `http://hooks.test:${port}/hook`,
      resolve: async () => {
        calls++;
        return [{ address: "127.0.0.1", family: 4 }];
      },
    }),
  );
  expect(result.outcome).toBe("delivered");
  expect(calls).toBe(1);
  expect(seen[0]!.headers.host).toBe(`hooks.test:${port}`);
});

test("URLs with credentials or another scheme are refused", async () => {
  expect((await sendWebhook(request({ url: `http://user:pw@127.0.0.1:1/x` }))).outcome).toBe("failed");
  expect((await sendWebhook(request({ url: "file:///etc/passwd" }))).outcome).toBe("failed");
});
