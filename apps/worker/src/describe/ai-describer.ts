import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { APICallError, NoObjectGeneratedError, Output, generateText, type LanguageModel } from "ai";
import type { IntervalLimiter } from "./rate-limiter.js";
import { type Describer, type TableContext, type TableDescription, tableDescriptionSchema } from "./types.js";

export interface AiDescriberConfig {
  provider: "openai" | "anthropic" | "openai-compatible";
  model?: string | undefined;
  apiKey?: string | undefined;
  baseUrl?: string | undefined;
  timeoutMs: number;
  limiter: IntervalLimiter;
  onCall?: (outcome: "ok" | "rate_limited" | "malformed" | "timeout" | "error") => void;
}

const DEFAULT_MODELS = { openai: "gpt-4o-mini", anthropic: "claude-haiku-4-5" } as const;

/** A job error whose message is meant for the dashboard (the job's failedReason). */
export class DescriberError extends Error {
  constructor(
    message: string,
    readonly kind: "rate_limited" | "malformed" | "timeout" | "error",
  ) {
    super(message);
    this.name = "DescriberError";
  }
}

function createModel(config: AiDescriberConfig): { model: LanguageModel; id: string } {
  switch (config.provider) {
    case "openai": {
      const id = config.model ?? DEFAULT_MODELS.openai;
      const openai = createOpenAI({ apiKey: config.apiKey, baseURL: config.baseUrl });
      // Chat Completions rather than the Responses API: it is what OpenAI-compatible proxies speak too.
      return { model: openai.chat(id), id };
    }
    case "anthropic": {
      const id = config.model ?? DEFAULT_MODELS.anthropic;
      return { model: createAnthropic({ apiKey: config.apiKey, baseURL: config.baseUrl })(id), id };
    }
    case "openai-compatible": {
      const id = config.model ?? "";
      const provider = createOpenAICompatible({ name: "openai-compatible", baseURL: config.baseUrl ?? "", apiKey: config.apiKey });
      return { model: provider.chatModel(id), id };
    }
  }
}

const SYSTEM = [
  "You document PostgreSQL schemas for developers and AI assistants that write SQL against them.",
  "Given one table's structure, describe what one row represents and what each column holds.",
  "Be concrete and brief: one or two sentences for the table, one sentence per column.",
  "Use only the information given; do not invent business rules. Mention units, formats and relationships when they are evident.",
  "Return one entry for every column, with the column name exactly as given.",
  // Spelled out for endpoints that only offer a JSON mode (no schema-constrained output).
  'Answer with JSON only: {"table": string, "columns": [{"name": string, "description": string}]}.',
].join(" ");

/** The prompt: names, types, keys, foreign keys, comments, row estimate; sample values only if given. */
export function buildPrompt(context: TableContext): string {
  const { table } = context;
  const doc = {
    table: `${table.schema}.${table.name}`,
    kind: table.kind,
    comment: table.comment,
    approximateRows: table.rowEstimate,
    primaryKey: table.primaryKey,
    uniqueConstraints: table.uniqueConstraints.map((u) => u.columns),
    checks: table.checks?.map((c) => c.definition),
    foreignKeys: table.foreignKeys.map((f) => ({
      columns: f.columns,
      references: `${f.references.schema}.${f.references.table}(${f.references.columns.join(", ")})`,
    })),
    referencedBy: context.referencedBy,
    columns: table.columns.map((c) => ({
      name: c.name,
      type: c.type,
      nullable: c.nullable,
      default: c.default,
      comment: c.comment,
      ...(context.samples[c.name]?.length ? { sampleValues: context.samples[c.name] } : {}),
      ...(context.stats?.[c.name] ? { statistics: context.stats[c.name] } : {}),
    })),
  };
  return `Describe this table.\n\n${JSON.stringify(doc, null, 2)}`;
}

function classify(error: unknown, timeoutMs: number): DescriberError {
  if (error instanceof DescriberError) return error;
  if (APICallError.isInstance(error)) {
    if (error.statusCode === 429) return new DescriberError(`AI provider rate limit (HTTP 429): ${error.message}`, "rate_limited");
    return new DescriberError(`AI provider error${error.statusCode ? ` (HTTP ${error.statusCode})` : ""}: ${error.message}`, "error");
  }
  if (NoObjectGeneratedError.isInstance(error)) {
    return new DescriberError(`AI provider returned output that is not a valid description: ${error.message}`, "malformed");
  }
  const name = error instanceof Error ? error.name : "";
  const message = error instanceof Error ? error.message : String(error);
  if (name === "TimeoutError" || name === "AbortError" || /aborted|timed? ?out/i.test(message)) {
    return new DescriberError(`AI provider did not answer within ${timeoutMs} ms`, "timeout");
  }
  return new DescriberError(`AI description failed: ${message}`, "error");
}

export function createAiDescriber(config: AiDescriberConfig): Describer {
  const { model, id } = createModel(config);
  return {
    source: "ai",
    model: `${config.provider}:${id}`,
    async describe(context: TableContext, signal?: AbortSignal): Promise<TableDescription> {
      await config.limiter.take(signal);
      try {
        const { output } = await generateText({
          model,
          system: SYSTEM,
          prompt: buildPrompt(context),
          output: Output.object({ schema: tableDescriptionSchema }),
          // Retries belong to the job (BullMQ, with backoff, visible in the dashboard), not hidden here.
          maxRetries: 0,
          timeout: config.timeoutMs,
          abortSignal: signal,
          // Explicit, so unknown (self-hosted) models are not given a provider's maximum. No
          // temperature: several current models reject it, and the schema already constrains output.
          maxOutputTokens: 4096,
        });
        config.onCall?.("ok");
        return output;
      } catch (error) {
        const classified = classify(error, config.timeoutMs);
        config.onCall?.(classified.kind);
        throw classified;
      }
    },
  };
}
