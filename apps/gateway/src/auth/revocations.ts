import type { Redis } from "ioredis";
import { REVOCATION_CHANNEL, revocationMessageSchema, type RevocationMessage } from "@portcullis/jobs";
import type { Logger } from "../logger.js";

const QUIT_TIMEOUT_MS = 1_000;

/**
 * Listens for revocation broadcasts. A message is applied the moment it arrives (well inside the one
 * second the contract allows). Pub/sub is fire-and-forget, so after any reconnect every cache is
 * cleared: messages sent while we were away are lost, and the caches could hold revoked keys.
 */
export function subscribeToRevocations(
  subscriber: Redis,
  handlers: { apply(message: RevocationMessage): void; clearAll(): void },
  logger: Logger,
): () => Promise<void> {
  let everReady = false;
  subscriber.on("ready", () => {
    if (everReady) {
      logger.warn("revocation channel reconnected; clearing auth and link caches");
      handlers.clearAll();
    }
    everReady = true;
  });
  subscriber.on("error", (error: Error) => logger.debug({ err: error.message }, "revocation subscriber error"));
  subscriber.on("message", (channel: string, payload: string) => {
    if (channel !== REVOCATION_CHANNEL) return;
    let parsed: RevocationMessage;
    try {
      parsed = revocationMessageSchema.parse(JSON.parse(payload));
    } catch {
      logger.warn("ignoring malformed revocation message");
      return;
    }
    handlers.apply(parsed);
  });
  void subscriber.subscribe(REVOCATION_CHANNEL).catch((error: Error) => logger.warn({ err: error.message }, "subscribe failed"));
  return async () => {
    // QUIT waits in the offline queue while Redis is away (subscriber connections retry forever), which
    // would hold a shutdown until Redis came back: only a connected subscriber says goodbye, briefly.
    if (subscriber.status !== "ready") return subscriber.disconnect();
    const quit = subscriber.quit().then(() => undefined);
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), QUIT_TIMEOUT_MS).unref());
    if ((await Promise.race([quit.catch(() => "failed" as const), timeout])) !== undefined) subscriber.disconnect();
  };
}
