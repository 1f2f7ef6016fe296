import { randomUUID } from "node:crypto";
import { auditEventSchema } from "@portcullis/jobs";
import { describe, expect, test } from "vitest";
import { refusedRequestEvent, requestRefusedFields, toolCallEvent } from "../src/calls/audit-event.js";
import type { CallContext } from "../src/context.js";

const teamId = randomUUID();
const linkId = randomUUID();

function ctx(extra: Partial<CallContext> = {}, principal: Partial<CallContext["principal"]> = {}): CallContext {
  return {
    requestId: "req-1",
    principal: { kind: "oauth", teamId, linkId, userId: randomUUID(), apiKeyId: null, oauthClientId: "https://c.example/m.json", subject: "s", grantedScopes: ["mcp:read"], clientName: "Registered Name", email: null, attributes: {}, ...principal },
    link: { id: linkId, teamId } as CallContext["link"],
    clientName: "claude-code",
    clientVersion: "2.1.0",
    protocolVersion: "2026-07-28",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    sourceIp: "203.0.113.9",
    ...extra,
  };
}

/** As the worker will parse it (id and time are added by the producer). */
const parse = (event: object) => auditEventSchema.parse({ id: randomUUID(), time: new Date().toISOString(), ...event });

describe("the one audit builder", () => {
  test("a tool call: who, which client and revision, what ran, capped fields; valid for the worker", () => {
    const event = parse(toolCallEvent(ctx(), "execute_sql", { verdict: "blocked", sql: "x".repeat(200_000), ruleId: "write_not_permitted", reason: "r".repeat(9000), tables: Array.from({ length: 300 }, (_, i) => `t${i}`), classes: ["write"] }, 1.23456789));
    expect(event).toMatchObject({ kind: "tool_call", teamId, linkId, tool: "execute_sql", clientName: "claude-code", clientVersion: "2.1.0", protocolVersion: "2026-07-28", traceId: "4bf92f3577b34da6a3ce929d0e0e4736", verdict: "blocked", ruleId: "write_not_permitted", durationMs: 1.235, requestId: "req-1", sourceIp: "203.0.113.9" });
    expect(event.sql).toHaveLength(100_000);
    expect(event.reason).toHaveLength(4000);
    expect(event.tables).toHaveLength(200);
    expect(event).not.toHaveProperty("classes");
  });

  test("no self-reported client: the OAuth client's registered name; an invalid trace id is dropped, not dead-lettered", () => {
    const event = parse(toolCallEvent(ctx({ clientName: null, clientVersion: null, traceId: "0".repeat(32) }), "list_tables", { verdict: "allowed" }, 0));
    expect(event.clientName).toBe("Registered Name");
    expect(event.traceId).toBeNull();
    expect(parse(toolCallEvent(ctx({ traceId: "XYZ" }), "t", { verdict: "allowed" }, 0)).traceId).toBeNull();
    expect(parse(toolCallEvent(ctx({ clientName: "n".repeat(500) }), "t", { verdict: "allowed" }, 0)).clientName).toHaveLength(200);
  });

  test("a refused request, with and without its link's team (the coalescer adds them later)", () => {
    const fields = requestRefusedFields({ ruleId: "rate_limited", reason: "too many", sourceIp: null, requestId: "r2", clientName: "x", protocolVersion: "2025-11-25", traceId: "bad" });
    expect(fields).toMatchObject({ kind: "request_refused", verdict: "blocked", ruleId: "rate_limited", apiKeyId: null, userId: null, clientName: "x", protocolVersion: "2025-11-25" });
    expect(fields).not.toHaveProperty("traceId");
    expect(fields).not.toHaveProperty("teamId");
    const event = parse(refusedRequestEvent({ id: linkId, teamId }, { ruleId: "playground_forbidden", reason: "no", sourceIp: "127.0.0.1", requestId: "r3", protocolVersion: "playground" }));
    expect(event).toMatchObject({ kind: "request_refused", teamId, linkId, protocolVersion: "playground" });
  });
});
