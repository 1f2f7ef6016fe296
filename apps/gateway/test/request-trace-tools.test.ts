import { describe, expect, it } from "vitest";
import { TOOLS } from "../src/mcp/tools/index.js";
import { BUILT_IN_TOOL_NAMES } from "../src/telemetry/request-trace.js";

describe("request trace tool names", () => {
  it("are exactly the built-in tools (a tool added without its name here would be counted as _OTHER)", () => {
    expect([...BUILT_IN_TOOL_NAMES].sort()).toEqual(TOOLS.map((t) => t.name).sort());
  });
});
