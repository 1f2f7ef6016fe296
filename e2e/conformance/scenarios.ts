/**
 * Which of the official suite's server scenarios apply to a database gateway, at which spec versions
 * (`conformance list` in 0.2.0-alpha.12 gives each scenario's versions). A scenario that belongs to
 * several revisions runs once per revision: 2025 revisions use the initialize handshake and 2026-07-28
 * is stateless, so passing one wire says nothing about the other.
 */
export type SpecVersion = "2026-07-28" | "2025-11-25" | "2025-06-18" | "2025-03-26";

export interface ScenarioSpec {
  scenario: string;
  versions: SpecVersion[];
  why: string;
}

export const SCENARIOS: ScenarioSpec[] = [
  { scenario: "server-stateless", versions: ["2026-07-28"], why: "server/discover, per-request _meta, stateless lifecycle, error codes and HTTP statuses of the new revision" },
  { scenario: "http-header-validation", versions: ["2026-07-28"], why: "Mcp-Method / Mcp-Name / MCP-Protocol-Version required and checked against the body" },
  { scenario: "caching", versions: ["2026-07-28"], why: "ttlMs / cacheScope on list results" },
  { scenario: "server-initialize", versions: ["2025-11-25", "2025-06-18"], why: "the 2025 handshake existing clients use" },
  { scenario: "tools-list", versions: ["2026-07-28", "2025-11-25", "2025-06-18"], why: "the tools every client lists first (deterministic order on 2026)" },
  { scenario: "ping", versions: ["2025-11-25"], why: "2025 clients ping to keep a connection alive" },
  { scenario: "tools-call-error", versions: ["2026-07-28", "2025-11-25"], why: "tool errors as results; needs the suite's fixture tool (baselined)" },
  { scenario: "json-schema-2020-12", versions: ["2026-07-28", "2025-11-25"], why: "2020-12 schemas preserved; needs the suite's fixture tool (baselined)" },
  { scenario: "dns-rebinding-protection", versions: ["2026-07-28", "2025-11-25"], why: "Host/Origin policy against a browser on a rebinding domain" },
  { scenario: "resources-list", versions: ["2026-07-28", "2025-11-25"], why: "the visible tables as resources" },
  { scenario: "resources-read-text", versions: ["2026-07-28", "2025-11-25"], why: "reads a fixture resource (test://static-text; baselined)" },
  { scenario: "resources-templates-read", versions: ["2026-07-28", "2025-11-25"], why: "reads through a fixture template (test://template/{id}/data; baselined)" },
  { scenario: "sep-2164-resource-not-found", versions: ["2026-07-28"], why: "an unknown resource is -32602 with data.uri, never empty contents (same answer as a hidden table)" },
  { scenario: "server-sse-multiple-streams", versions: ["2026-07-28", "2025-11-25"], why: "concurrent POST streams from one client" },
  { scenario: "server-session-lifecycle", versions: ["2025-11-25", "2025-06-18", "2025-03-26"], why: "what a DELETE of a (stateless) session id means afterwards" },
  // The gateway answers input_required (approval "confirm") on tools/call only; this is the one MRTR
  // scenario that needs none of the suite's fixture tools. The confirmation itself is tested with real
  // clients in apps/gateway/test/confirm-*.int.test.ts.
  { scenario: "input-required-result-unsupported-methods", versions: ["2026-07-28"], why: "input_required only on the methods that may carry it (tools/call), never on lists" },
];

/** Scenarios not run, and why (printed in the summary so the choice is visible, not silent). */
export const NOT_APPLICABLE: { scenarios: string[]; reason: string }[] = [
  { scenarios: ["tools-call-simple-text", "tools-call-image", "tools-call-audio", "tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-with-logging", "tools-call-with-progress", "tools-call-sampling", "tools-call-elicitation", "server-sse-polling"], reason: "call the suite's fixture tools (test_simple_text, test_image_content, test_reconnection, …), which a database gateway does not have" },
  { scenarios: ["prompts-list", "prompts-get-simple", "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image"], reason: "the gateway offers no prompts" },
  { scenarios: ["resources-read-binary", "resources-subscribe", "resources-unsubscribe"], reason: "no binary resources; resources are offered without subscribe" },
  { scenarios: ["logging-set-level", "completion-complete"], reason: "no logging or completions capability" },
  { scenarios: ["elicitation-sep1034-defaults", "elicitation-sep1330-enums"], reason: "call the suite's fixture tools; the gateway elicits only to confirm a write on an approval \"confirm\" table (apps/gateway/test/confirm-*.int.test.ts)" },
  { scenarios: ["http-custom-header-server-validation"], reason: "applies only to tools with x-mcp-header parameters; the gateway declares none" },
  {
    scenarios: ["input-required-result-* (all but unsupported-methods)"],
    reason: "call the suite's fixture tools (test_input_required_result_*); the gateway's own round trip (approval confirm) is tested with the v2 client in apps/gateway/test/confirm-modern.int.test.ts",
  },
  { scenarios: ["tasks-*", "sep-2640-skills-*"], reason: "extensions the gateway does not implement" },
];
