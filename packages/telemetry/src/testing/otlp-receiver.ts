import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fixed64Of, decodeMessage, hexOf, messagesOf, textOf, varintOf, type WireMessage } from "./protobuf.js";

export type AttributeValue = string | number | boolean;

/** A span as received, from either encoding. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttributeValue>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  resource: Record<string, AttributeValue>;
}

/** One metric data point as received: the metric's name and the point's attributes (and count for histograms). */
export interface ReceivedPoint {
  metric: string;
  attributes: Record<string, AttributeValue>;
  count?: number;
  resource: Record<string, AttributeValue>;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  points: ReceivedPoint[];
  /** Each export request: path, content type (tells the encodings apart) and headers. */
  requests: { path: string; contentType: string; headers: Record<string, string | string[] | undefined> }[];
  close(): Promise<void>;
}

function anyValue(m: WireMessage): AttributeValue {
  const s = textOf(m, 1);
  if (s !== undefined) return s;
  if (m.has(2)) return varintOf(m, 2) === 1n;
  if (m.has(3)) return Number(BigInt.asIntN(64, varintOf(m, 3)!));
  if (m.has(4)) return Buffer.from(m.get(4)![0] as Uint8Array).readDoubleLE(0);
  return "";
}

function protoAttributes(list: WireMessage[]): Record<string, AttributeValue> {
  return Object.fromEntries(list.map((kv) => [textOf(kv, 1) ?? "", anyValue(messagesOf(kv, 2)[0] ?? new Map())]));
}

function jsonValue(v: Record<string, unknown> | undefined): AttributeValue {
  if (!v) return "";
  if (typeof v.stringValue === "string") return v.stringValue;
  if (typeof v.boolValue === "boolean") return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  return "";
}

function jsonAttributes(list: unknown): Record<string, AttributeValue> {
  return Object.fromEntries(((list as { key: string; value?: Record<string, unknown> }[] | undefined) ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));
}

function protoSpans(body: Uint8Array): ReceivedSpan[] {
  return messagesOf(decodeMessage(body), 1).flatMap((rs) => {
    const resource = protoAttributes(messagesOf(messagesOf(rs, 1)[0] ?? new Map(), 1));
    return messagesOf(rs, 2).flatMap((ss) =>
      messagesOf(ss, 2).map((s) => ({
        traceId: hexOf(s, 1),
        spanId: hexOf(s, 2),
        parentSpanId: hexOf(s, 4),
        name: textOf(s, 5) ?? "",
        kind: Number(varintOf(s, 6) ?? 0n),
        startNs: fixed64Of(s, 7) ?? 0n,
        endNs: fixed64Of(s, 8) ?? 0n,
        attributes: protoAttributes(messagesOf(s, 9)),
        statusCode: Number(varintOf(messagesOf(s, 15)[0] ?? new Map(), 3) ?? 0n),
        resource,
      })),
    );
  });
}

// JSON OTLP ids are hex strings (the spec's exception to proto3 JSON's base64).
function jsonSpans(body: string): ReceivedSpan[] {
  const request = JSON.parse(body) as { resourceSpans?: { resource?: { attributes?: unknown }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] };
  return (request.resourceSpans ?? []).flatMap((rs) => {
    const resource = jsonAttributes(rs.resource?.attributes);
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        traceId: String(s.traceId ?? ""),
        spanId: String(s.spanId ?? ""),
        parentSpanId: String(s.parentSpanId ?? ""),
        name: String(s.name ?? ""),
        kind: Number(s.kind ?? 0),
        startNs: BigInt(String(s.startTimeUnixNano ?? 0)),
        endNs: BigInt(String(s.endTimeUnixNano ?? 0)),
        attributes: jsonAttributes(s.attributes),
        statusCode: Number((s.status as { code?: number } | undefined)?.code ?? 0),
        resource,
      })),
    );
  });
}

// Metric: 1 name, 5 gauge, 7 sum, 9 histogram, 10 exponential histogram; each holds data_points at 1.
function protoPoints(body: Uint8Array): ReceivedPoint[] {
  return messagesOf(decodeMessage(body), 1).flatMap((rm) => {
    const resource = protoAttributes(messagesOf(messagesOf(rm, 1)[0] ?? new Map(), 1));
    return messagesOf(rm, 2).flatMap((sm) =>
      messagesOf(sm, 2).flatMap((metric) => {
        const name = textOf(metric, 1) ?? "";
        const histogram = messagesOf(metric, 9)[0];
        if (histogram) return messagesOf(histogram, 1).map((p) => ({ metric: name, attributes: protoAttributes(messagesOf(p, 9)), count: Number(fixed64Of(p, 4) ?? 0n), resource }));
        const other = messagesOf(metric, 5)[0] ?? messagesOf(metric, 7)[0];
        return other ? messagesOf(other, 1).map((p) => ({ metric: name, attributes: protoAttributes(messagesOf(p, 7)), resource })) : [];
      }),
    );
  });
}

function jsonPoints(body: string): ReceivedPoint[] {
  type JsonMetric = { name: string; histogram?: { dataPoints?: Record<string, unknown>[] }; sum?: { dataPoints?: Record<string, unknown>[] }; gauge?: { dataPoints?: Record<string, unknown>[] } };
  const request = JSON.parse(body) as { resourceMetrics?: { resource?: { attributes?: unknown }; scopeMetrics?: { metrics?: JsonMetric[] }[] }[] };
  return (request.resourceMetrics ?? []).flatMap((rm) => {
    const resource = jsonAttributes(rm.resource?.attributes);
    return (rm.scopeMetrics ?? []).flatMap((sm) =>
      (sm.metrics ?? []).flatMap((m) =>
        (m.histogram ?? m.sum ?? m.gauge)?.dataPoints?.map((p) => ({ metric: m.name, attributes: jsonAttributes(p.attributes), ...(m.histogram ? { count: Number(p.count ?? 0) } : {}), resource })) ?? [],
      ),
    );
  });
}

/**
 * An OTLP/HTTP receiver on a free loopback port: /v1/traces and /v1/metrics in http/protobuf or
 * http/json, decoded into plain objects. Answers 200 with an empty body, as a collector does.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const points: ReceivedPoint[] = [];
  const requests: OtlpReceiver["requests"] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const contentType = String(req.headers["content-type"] ?? "");
      const json = contentType.includes("json");
      requests.push({ path: req.url ?? "", contentType, headers: req.headers });
      try {
        if (req.url === "/v1/traces") spans.push(...(json ? jsonSpans(body.toString("utf8")) : protoSpans(body)));
        else if (req.url === "/v1/metrics") points.push(...(json ? jsonPoints(body.toString("utf8")) : protoPoints(body)));
        res.writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" });
        res.end(json ? "{}" : undefined);
      } catch (error) {
        res.writeHead(400);
        res.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    points,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Exporters keep their connections alive: close() alone would wait for them.
        server.closeAllConnections();
      }),
  };
}
