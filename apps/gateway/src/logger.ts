import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured logs. Authorization headers, keys and connection secrets never reach a log line: the
 * redact paths are a second wall behind simply never passing them to the logger.
 */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: "gateway", ...base },
    redact: {
      paths: ["req.headers.authorization", "headers.authorization", "authorization", "password", "token", "*.password", "*.token"],
      censor: "[redacted]",
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
