import { describe, expect, it } from "vitest";
import { createMix, LITERAL_SPACE, Slots, type CallKind, type Dialect } from "../bench/agent-mix.js";

const N = 20_000;
const KINDS: CallKind[] = ["schema", "point", "join", "aggregate", "window", "cte", "order-limit", "large", "refused"];

// Tens of thousands of generated calls per test: seconds on a loaded 2-core machine, past the unit default.
describe("agent mix (the benchmark's workload)", { timeout: 30_000 }, () => {
  it("is deterministic by seed and differs between seeds", () => {
    const a = createMix(7, "gateway");
    const b = createMix(7, "gateway");
    const c = createMix(8, "gateway");
    const calls = (m: typeof a) => Array.from({ length: 500 }, (_, i) => JSON.stringify(m.nextCall(i)));
    expect(calls(a)).toEqual(calls(b));
    const other = calls(c);
    expect(calls(a).filter((t, i) => t === other[i]).length).toBeLessThan(100);
  });

  it("a literal offset keeps the shapes and their order and shares no statement text with the unshifted mix", () => {
    const a = createMix(1, "gateway");
    const b = createMix(1, "gateway", undefined, 400_000);
    const texts = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const [x, y] = [a.nextCall(i), b.nextCall(i)];
      expect(y.shape).toBe(x.shape);
      if (x.kind !== "schema") texts.add(x.sql);
    }
    for (let i = 0; i < 5_000; i++) {
      const y = b.nextCall(i);
      if (y.kind !== "schema") expect(texts.has(y.sql)).toBe(false);
    }
  });

  // 60,000 calls: one expect per property per call took 12 s on a loaded machine; mismatches are collected.
  it("never repeats a statement text in a run of N calls, in any dialect", () => {
    for (const dialect of ["gateway", "dbhub", "sql"] as Dialect[]) {
      const mix = createMix(1, dialect);
      const texts = new Set<string>();
      const malformed: unknown[] = [];
      let statements = 0;
      for (let i = 0; i < N; i++) {
        const call = mix.nextCall(i);
        // Schema tool calls carry table names and search words, which repeat as an agent's do.
        if (call.kind === "schema") continue;
        statements++;
        const args = call.args as Record<string, unknown>;
        if (call.tool !== "execute_sql" || Object.keys(args).length !== 1 || args.sql !== call.sql) malformed.push(call);
        texts.add(call.sql);
      }
      expect(malformed.slice(0, 3)).toEqual([]);
      expect(statements).toBeGreaterThan(N * 0.8);
      expect(texts.size).toBe(statements);
    }
  });

  it("gives every template a literal space of at least LITERAL_SPACE (so texts stay distinct that long)", () => {
    const mix = createMix(1, "sql");
    const small: string[] = [];
    for (const shape of mix.shapes) {
      if (shape.kind === "schema") continue;
      const slots = new Slots(0);
      shape.build(slots, "sql");
      if (slots.capacity < LITERAL_SPACE) small.push(`${shape.id}: ${slots.capacity}`);
    }
    expect(small).toEqual([]);
  });

  it("has a few hundred distinct shapes, every kind present, ~10% refused, ~5% large, schema calls first", () => {
    const mix = createMix(3, "gateway");
    expect(new Set(mix.shapes.map((s) => s.id)).size).toBe(mix.shapes.length);
    expect(mix.shapes.length).toBeGreaterThanOrEqual(200);
    const counts = new Map<CallKind, number>();
    const used = new Set<string>();
    for (let i = 0; i < N; i++) {
      const call = mix.nextCall(i);
      counts.set(call.kind, (counts.get(call.kind) ?? 0) + 1);
      used.add(call.shape);
      expect(call.expect).toBe(call.kind === "refused" ? "refused" : "ok");
      if (i % 32 < 4) expect(call.kind).toBe("schema");
    }
    for (const kind of KINDS) expect(counts.get(kind) ?? 0, kind).toBeGreaterThan(N * 0.02);
    const share = (k: CallKind) => (counts.get(k) ?? 0) / N;
    expect(share("refused")).toBeGreaterThan(0.085);
    expect(share("refused")).toBeLessThan(0.115);
    expect(share("large")).toBeGreaterThan(0.04);
    expect(share("large")).toBeLessThan(0.06);
    // Shapes are used, not just listed.
    expect(used.size).toBeGreaterThan(mix.shapes.length * 0.9);
  });

  it("maps schema calls to each peer's own tool and the same logical call in every dialect", () => {
    const gw = createMix(5, "gateway");
    const hub = createMix(5, "dbhub");
    const sql = createMix(5, "sql");
    expect(gw.nextCall(0)).toMatchObject({ tool: "list_tables", kind: "schema" });
    expect(hub.nextCall(0)).toMatchObject({ tool: "search_objects", args: { object_type: "table" } });
    expect(sql.nextCall(0).sql).toMatch(/information_schema\.tables/);
    const d = gw.nextCall(1);
    expect(d.tool).toBe("describe_table");
    expect(hub.nextCall(1).args).toMatchObject({ object_type: "column", table: (d.args as { table: string }).table });
    for (let i = 4; i < 400; i++) {
      const [a, b, c] = [gw.nextCall(i), hub.nextCall(i), sql.nextCall(i)];
      expect(b.sql).toBe(a.sql);
      expect(c.sql).toBe(a.sql);
      expect(c.tool).toBe("execute_sql");
    }
  });
});
