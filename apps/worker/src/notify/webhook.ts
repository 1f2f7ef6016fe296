import { createHmac } from "node:crypto";
import { lookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { classifyAddress, normalizeAddress } from "@portcullis/db/target";

export const WEBHOOK_USER_AGENT = "Portcullis-Webhooks/1";

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the receiver recomputes it over the raw body. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

export type WebhookOutcome = "delivered" | "retry" | "failed";

export interface WebhookResult {
  outcome: WebhookOutcome;
  /** The response's status, null when none came (refused, timed out, connection error). */
  status: number | null;
  error: string | null;
  /** The receiver's Retry-After (429/503…), in ms from now, when it sent a usable one. */
  retryAfterMs?: number | null;
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  if (/^\d{1,10}$/.test(raw)) return Number(raw) * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;
const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

export interface WebhookRequest {
  url: string;
  secret: string;
  event: string;
  deliveryId: string;
  body: string;
  timeoutMs: number;
  /** PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: also private, loopback and link-local addresses (tests, closed networks). */
  allowPrivate: boolean;
  resolve?: Resolver;
  /** Further headers (audit sinks: Idempotency-Key); they cannot replace the signature's. */
  extraHeaders?: Record<string, string>;
  now?: () => number;
}

/**
 * The address to connect to, or why not. Every address the name resolves to is checked (a name may
 * answer with a public address and a loopback one), and the connection goes to the one checked, so a
 * second resolution cannot rebind the name to the metadata service or this machine.
 */
export async function resolveWebhookAddress(
  host: string,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
): Promise<{ ok: true; address: string; family: number } | { ok: false; permanent: boolean; error: string }> {
  const bare = host.replace(/^\[|\]$/g, "");
  let addresses: { address: string; family: number }[];
  if (isIP(bare)) addresses = [{ address: bare, family: isIP(bare) }];
  else {
    try {
      addresses = await resolve(bare);
    } catch (error) {
      // A name that does not resolve now may resolve later (DNS outage): retried.
      return { ok: false, permanent: false, error: `the webhook host ${bare} does not resolve (${(error as { code?: string }).code ?? "error"})` };
    }
  }
  if (addresses.length === 0) return { ok: false, permanent: false, error: `the webhook host ${bare} does not resolve` };
  for (const { address } of addresses) {
    const cls = classifyAddress(address);
    if (cls === "public") continue;
    if (cls !== "reserved" && allowPrivate) continue;
    return {
      ok: false,
      permanent: true,
      error: `the webhook host ${bare} resolves to ${normalizeAddress(address)}, a ${cls} address; webhooks go to public addresses only (PORTCULLIS_WEBHOOK_ALLOW_PRIVATE=1 allows private ones)`,
    };
  }
  const first = addresses[0]!;
  const normal = normalizeAddress(first.address);
  return { ok: true, address: normal, family: isIP(normal) || first.family };
}

/** 2xx delivered; 408, 429 and 5xx are worth another try; any other answer (3xx included: never followed) is final. */
export function classifyStatus(status: number): WebhookOutcome {
  if (status >= 200 && status < 300) return "delivered";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  return "failed";
}

const MAX_ERROR_BODY = 2048;

/** POSTs one signed notification. Never throws: the caller records the result on the delivery row. */
export async function sendWebhook(req: WebhookRequest): Promise<WebhookResult> {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return { outcome: "failed", status: null, error: "the webhook URL is not a valid URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return { outcome: "failed", status: null, error: `webhook URLs must be http(s), not ${url.protocol}` };
  if (url.username || url.password) return { outcome: "failed", status: null, error: "webhook URLs may not carry credentials" };
  const target = await resolveWebhookAddress(url.hostname, req.allowPrivate, req.resolve);
  if (!target.ok) return { outcome: target.permanent ? "failed" : "retry", status: null, error: target.error };

  const t = Math.floor((req.now ?? Date.now)() / 1000);
  const headers = {
    ...req.extraHeaders,
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(req.body)),
    "User-Agent": WEBHOOK_USER_AGENT,
    "Portcullis-Event": req.event,
    "Portcullis-Delivery": req.deliveryId,
    "Portcullis-Signature": signWebhook(req.secret, req.body, t),
  };
  // The name is kept for TLS (SNI, certificate check) and the Host header; only the address is pinned.
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return await new Promise<WebhookResult>((resolve) => {
    let settled = false;
    const finish = (result: WebhookResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = send(url, { method: "POST", headers, lookup: pinned, agent: false, timeout: req.timeoutMs }, (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      const outcome = classifyStatus(status);
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        if (size < MAX_ERROR_BODY) chunks.push(chunk);
        size += chunk.length;
      });
      // Cut off mid-body (deadline, reset): the status already decided the outcome.
      const retryAfterMs = outcome === "retry" ? parseRetryAfter(response.headers["retry-after"]) : null;
      const early = () => finish({ outcome, status, error: outcome === "delivered" ? null : `HTTP ${status}`, retryAfterMs });
      response.on("error", early);
      response.on("close", early);
      response.on("end", () => {
        if (outcome === "delivered") return finish({ outcome, status, error: null });
        const text = Buffer.concat(chunks).toString("utf8").slice(0, MAX_ERROR_BODY).replace(/\s+/g, " ").trim();
        const redirect = status >= 300 && status < 400 ? " (redirects are not followed)" : "";
        finish({ outcome, status, error: `HTTP ${status}${redirect}${text ? `: ${text.slice(0, 300)}` : ""}`, retryAfterMs });
      });
    });
    // One deadline for the whole exchange: a receiver trickling bytes cannot hold a worker slot.
    const timer = setTimeout(() => {
      request.destroy(new Error(`no answer within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    request.on("timeout", () => request.destroy(new Error(`no answer within ${req.timeoutMs} ms`)));
    request.on("error", (error: Error & { code?: string }) => finish({ outcome: "retry", status: null, error: error.code ? `${error.code}: ${error.message}` : error.message }));
    request.end(req.body);
  });
}
