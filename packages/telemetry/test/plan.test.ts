import { describe, expect, it } from "vitest";
import { samplerFrom, sqlCommentFor, telemetryPlan } from "../src/index.js";

describe("telemetryPlan", () => {
  it("is off without an endpoint and with OTEL_SDK_DISABLED", () => {
    expect(telemetryPlan({})).toBeNull();
    expect(telemetryPlan({ OTEL_SERVICE_NAME: "x" })).toBeNull();
    expect(telemetryPlan({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toBeNull();
  });

  it("takes the signal's own endpoint and protocol over the generic ones", () => {
    const plan = telemetryPlan({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4318/v1/metrics", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" });
    expect(plan?.traces).toBeNull();
    expect(plan?.metrics).toEqual({ protocol: "http/json" });
    const both = telemetryPlan({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" });
    expect(both?.traces).toEqual({ protocol: "http/json" });
    expect(both?.metrics).toEqual({ protocol: "http/protobuf" });
  });

  it("says why grpc (not bundled) exports nothing instead of sending HTTP to a gRPC port", () => {
    const plan = telemetryPlan({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" });
    expect(plan?.traces).toBeNull();
    expect(plan?.metrics).toBeNull();
    expect(plan?.warnings.join(" ")).toMatch(/grpc is not supported/);
  });

  it("reads the metric interval and the db.query.text opt-in; refuses nonsense", () => {
    const plan = telemetryPlan({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_METRIC_EXPORT_INTERVAL: "1500", OTEL_PORTCULLIS_DB_QUERY_TEXT: "true" });
    expect(plan?.metricIntervalMs).toBe(1500);
    expect(plan?.dbQueryText).toBe(true);
    expect(telemetryPlan({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })?.dbQueryText).toBe(false);
    expect(() => telemetryPlan({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_METRIC_EXPORT_INTERVAL: "soon" })).toThrow(/OTEL_METRIC_EXPORT_INTERVAL/);
  });

  it("samplers by their specification names", () => {
    expect(samplerFrom("parentbased_always_on", undefined).toString()).toMatch(/ParentBased/);
    expect(samplerFrom("traceidratio", "0.25").toString()).toMatch(/0\.25/);
    expect(() => samplerFrom("traceidratio", "2")).toThrow(/between 0 and 1/);
    expect(() => samplerFrom("jaeger_remote", undefined)).toThrow(/not supported/);
  });
});

describe("sqlCommentFor", () => {
  it("sorts keys and percent-encodes values per the sqlcommenter spec", () => {
    expect(sqlCommentFor({ traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", portcullis_link: "lnk_1", portcullis_team: undefined })).toBe(
      "/*portcullis_link='lnk_1',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
    );
    expect(sqlCommentFor({ a: "é ü" })).toBe("/*a='%C3%A9%20%C3%BC'*/");
    expect(sqlCommentFor({})).toBe("");
  });

  it("no value can close the comment, end its quote or open another", () => {
    const hostile = "x'*/; DROP TABLE album; /* -- \n\\'";
    const comment = sqlCommentFor({ v: hostile });
    const inner = comment.slice(2, -2);
    expect(inner).not.toContain("*/");
    expect(inner).not.toContain("/*");
    expect(inner.match(/'/g)).toHaveLength(2);
    expect(inner).not.toMatch(/[\s\\;*]/);
    expect(decodeURIComponent(inner.slice(3, -1))).toBe(hostile);
  });

  it("refuses keys that are not plain identifiers", () => {
    expect(() => sqlCommentFor({ "a*/": "v" })).toThrow();
  });
});
