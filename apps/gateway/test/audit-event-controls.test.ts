import { randomUUID } from "node:crypto";
import { auditEventSchema } from "@portcullis/jobs";
import { describe, expect, test } from "vitest";
import { refusedRequestEvent, toolCallEvent } from "../src/calls/audit-event.js";
import type { CallContext } from "../src/context.js";

/**
 * Security review finding 5: the tool name (an unknown one is the client's text), clientInfo's name and
 * version reached the audit record, and from there `portcullis audit tail` and the dashboard, with ESC
 * sequences and line breaks: a forged line, a terminal title, a cleared screen. Those three fields are
 * single-line labels: the builder drops C0 and C1 control characters (and line/paragraph separators).
 * The SQL is evidence and stays as sent.
 */
const teamId = randomUUID();
const linkId = randomUUID();
const EVIL = "\u001b]0;pwned\u0007\u001b[2K\r2026-12-07T00:00:00.000Z  allowed execute_sql\u009b31m\u2028x\u007f";
const CLEAN = "]0;pwned[2K2026-12-07T00:00:00.000Z  allowed execute_sql31mx";

function ctx(extra: Partial<CallContext> = {}): CallContext {
  return {
    requestId: "req-1",
    principal: { kind: "api_key", teamId, linkId, userId: randomUUID(), apiKeyId: randomUUID(), oauthClientId: null, subject: "s", grantedScopes: [], clientName: null },
    link: { id: linkId, teamId } as CallContext["link"],
    clientName: `cli\u001b[31mRED\u001b[0m\r\nfake`,
    clientVersion: "1\u001b[2J\n2",
    protocolVersion: "2026-07-28",
    traceId: null,
    sourceIp: "203.0.113.9",
    ...extra,
  } as CallContext;
}

const parse = (event: object) => auditEventSchema.parse({ id: randomUUID(), time: new Date().toISOString(), ...event });

describe("audit labels carry no control characters", () => {
  test("tool call: tool, clientName and clientVersion are cleaned; the SQL is kept as sent", () => {
    const sql = "SELECT 1 \u001b[2J\u001b[H-- cleared\r\nSELECT 2";
    const event = parse(toolCallEvent(ctx(), EVIL, { verdict: "error", sql, error: "Unknown tool" }, 1));
    expect(event.tool).toBe(CLEAN);
    expect(event.clientName).toBe("cli[31mRED[0mfake");
    expect(event.clientVersion).toBe("1[2J2");
    expect(event.sql).toBe(sql);
  });

  test("a refused request: clientName and clientVersion cleaned the same way", () => {
    const event = parse(
      refusedRequestEvent({ id: linkId, teamId }, { ruleId: "rate_limited", reason: "too many", sourceIp: null, requestId: "r", clientName: `a\u0000b\u001bc\u0085d`, clientVersion: "\u0007" }),
    );
    expect(event.clientName).toBe("abcd");
    // Nothing left: no field, as when the client sent none.
    expect(event.clientVersion ?? null).toBeNull();
  });

  test("printable text, including non-Latin names and emoji, is untouched", () => {
    const event = parse(toolCallEvent(ctx({ clientName: "Клиент 東京 🚀", clientVersion: "2.1.0-β" }), "execute_sql", { verdict: "allowed" }, 0));
    expect(event).toMatchObject({ tool: "execute_sql", clientName: "Клиент 東京 🚀", clientVersion: "2.1.0-β" });
  });
});
