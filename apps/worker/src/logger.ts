import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured logs. Secrets never reach a log line: job payloads are not logged whole, and the redact
 * list catches the fields that could carry one if someone logs an object carelessly.
 */
export function createLogger(level: string, name = "worker"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ["password", "*.password", "apiKey", "*.apiKey", "secretCiphertext", "*.secretCiphertext", "authorization", "*.authorization"],
      censor: "[redacted]",
    },
  });
}
