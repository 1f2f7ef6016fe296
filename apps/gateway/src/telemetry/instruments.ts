import type { Histogram, Meter } from "@portcullis/telemetry";

export interface GatewayInstruments {
  serverDuration: Histogram;
  dbDuration: Histogram;
}

// Seconds, with buckets where MCP calls and statements actually fall (sub-millisecond to 10 s);
// the SDK's default buckets start at 5 (seconds), useless for a gateway answering in milliseconds.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const byMeter = new WeakMap<Meter, GatewayInstruments>();

/** The gateway's OTLP instruments (semantic-convention names), created once per meter. */
export function instrumentsFor(meter: Meter): GatewayInstruments {
  let instruments = byMeter.get(meter);
  if (!instruments) {
    instruments = {
      serverDuration: meter.createHistogram("mcp.server.operation.duration", {
        unit: "s",
        description: "MCP request duration as observed by the gateway, from receipt until the answer",
        advice: { explicitBucketBoundaries: BUCKETS },
      }),
      dbDuration: meter.createHistogram("db.client.operation.duration", {
        unit: "s",
        description: "Duration of statements the gateway runs on target databases",
        advice: { explicitBucketBoundaries: BUCKETS },
      }),
    };
    byMeter.set(meter, instruments);
  }
  return instruments;
}
