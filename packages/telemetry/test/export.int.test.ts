import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOtlpReceiver, type OtlpReceiver } from "../src/testing/index.js";

const EMIT = path.join(path.dirname(fileURLToPath(import.meta.url)), "support/emit.ts");
const run = promisify(execFile);

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver?.close());

/** Runs the emitter with exactly these OTEL_* variables (none inherited) and returns what it said. */
async function emit(vars: Record<string, string>): Promise<{ started: boolean; traces: boolean; metrics: boolean }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("OTEL_")) env[k] = v;
  const { stdout } = await run(process.execPath, ["--import", "tsx", EMIT], { env: { ...env, ...vars }, timeout: 30_000 });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

describe("telemetry export from a process", () => {
  it("http/json: spans and metrics arrive, with the resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES", async () => {
    const said = await emit({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "renamed-by-env",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=json-test",
      OTEL_EXPORTER_OTLP_HEADERS: "x-tenant=acme",
    });
    expect(said).toEqual({ started: true, traces: true, metrics: true });
    const span = receiver.spans.find((s) => s.name === "emit.job");
    expect(span?.attributes["emit.attr"]).toBe("yes");
    expect(span?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span?.resource).toMatchObject({ "service.name": "renamed-by-env", "service.namespace": "portcullis", "service.version": "9.9.9", "deployment.environment.name": "json-test" });
    // Flushed on shutdown although the export interval (60 s) never came.
    expect(receiver.points.find((p) => p.metric === "emit.count")?.attributes["emit.attr"]).toBe("yes");
    const traces = receiver.requests.filter((r) => r.path === "/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces.every((r) => r.contentType.startsWith("application/json") && r.headers["x-tenant"] === "acme")).toBe(true);
  });

  it("signal-specific endpoints: traces only, metrics off; protobuf by default", async () => {
    const before = receiver.requests.length;
    const said = await emit({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` });
    expect(said).toEqual({ started: true, traces: true, metrics: false });
    const fresh = receiver.requests.slice(before);
    expect(fresh.map((r) => r.path)).toEqual(["/v1/traces"]);
    expect(fresh[0]?.contentType).toBe("application/x-protobuf");
  });

  it("no endpoint, or OTEL_SDK_DISABLED: no SDK object and nothing sent", async () => {
    const before = receiver.requests.length;
    expect(await emit({})).toEqual({ started: false, traces: false, metrics: false });
    expect(await emit({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: "true" })).toEqual({ started: false, traces: false, metrics: false });
    expect(await emit({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: "none", OTEL_METRICS_EXPORTER: "none" })).toEqual({ started: false, traces: false, metrics: false });
    expect(receiver.requests.length).toBe(before);
  });
});
