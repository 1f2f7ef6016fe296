import type { WorkerEnv } from "../env.js";
import type { Metrics } from "../metrics.js";
import { createAiDescriber } from "./ai-describer.js";
import { offlineDescriber } from "./offline-describer.js";
import { IntervalLimiter } from "./rate-limiter.js";
import type { Describer } from "./types.js";

/** The describer the environment asks for: a model through the AI SDK, or the offline one. */
export function createDescriber(env: WorkerEnv, metrics?: Metrics): Describer {
  if (env.AI_PROVIDER === "none") return offlineDescriber;
  const apiKey = env.AI_PROVIDER === "anthropic" ? env.ANTHROPIC_API_KEY : env.OPENAI_API_KEY;
  return createAiDescriber({
    provider: env.AI_PROVIDER,
    model: env.AI_MODEL,
    apiKey,
    baseUrl: env.AI_BASE_URL,
    timeoutMs: env.AI_TIMEOUT_MS,
    limiter: new IntervalLimiter(env.AI_REQUESTS_PER_MINUTE),
    onCall: (outcome) => metrics?.aiCalls.inc({ provider: env.AI_PROVIDER, outcome }),
  });
}

export type { Describer, TableContext, TableDescription } from "./types.js";
