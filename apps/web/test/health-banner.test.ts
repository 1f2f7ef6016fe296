import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, test } from "vitest";
import { describeParts, healthReportSchema, type RawHealth } from "../src/app/api/health/parts";
import { HealthBannerView } from "../src/components/health-banner";

const fine: RawHealth = { database: true, redis: true, workers: 1, gateway: { status: "ready", checks: { metadata: "ok", redis: "ok", draining: "no" } } };
const banner = (raw: RawHealth) => {
  const report = describeParts(raw);
  // What the banner shows is what it reads back from the route's JSON.
  const parsed = healthReportSchema.parse(JSON.parse(JSON.stringify(report)));
  return renderToStaticMarkup(createElement(HealthBannerView, { problems: parsed.parts.filter((p) => p.message), unreachable: false }));
};

describe("health parts and the degraded banner", () => {
  test("everything fine: ok, and the banner renders nothing", () => {
    expect(describeParts(fine)).toMatchObject({ ok: true, status: "ok" });
    expect(banner(fine)).toBe("");
  });

  test("the worker down: degraded, and the banner says calls are still answered and audited", () => {
    const raw = { ...fine, workers: 0 };
    expect(describeParts(raw)).toMatchObject({ ok: false, status: "degraded" });
    const html = banner(raw);
    expect(html).toContain('data-part="worker"');
    expect(html).toContain("The worker is not running: calls are still answered and audited, but Activity and schema snapshots are delayed");
    expect(html).toContain("bg-amber-50");
  });

  test("Redis down: the worker count is unknown (not reported down), the banner names Redis only", () => {
    const raw = { ...fine, redis: false, workers: undefined, gateway: { status: "ready", checks: { redis: "degraded (audit events wait in the journal)", auditBacklog: "12 events not yet stored, oldest 3.0 s" } } };
    const report = describeParts(raw);
    expect(report.parts.find((p) => p.name === "worker")).toMatchObject({ state: "unknown" });
    expect(report.parts.find((p) => p.name === "gateway")).toMatchObject({ state: "ok", detail: "audit backlog: 12 events not yet stored, oldest 3.0 s" });
    const html = banner(raw);
    expect(html).toContain("Redis is not answering");
    expect(html).not.toContain('data-part="worker"');
  });

  test("the gateway unreachable, not ready, or draining", () => {
    const down = describeParts({ ...fine, gateway: undefined });
    expect(down.status).toBe("down");
    expect(banner({ ...fine, gateway: undefined })).toContain("bg-red-50");
    const unready = describeParts({ ...fine, gateway: { status: "not ready", checks: { metadata: "unreachable", draining: "no" } } });
    expect(unready.parts.find((p) => p.name === "gateway")?.message).toBe("The gateway is running but not ready (metadata: unreachable): calls may fail until it recovers.");
    const draining = describeParts({ ...fine, gateway: { status: "not ready", checks: { metadata: "ok", draining: "yes" } } });
    expect(draining.parts.find((p) => p.name === "gateway")?.message).toMatch(/gateway is restarting/);
  });

  test("the metadata database down is severe; the dashboard's own server unreachable is said too", () => {
    expect(describeParts({ ...fine, database: false }).status).toBe("down");
    expect(banner({ ...fine, database: false })).toContain("The metadata database is not answering");
    const html = renderToStaticMarkup(createElement(HealthBannerView, { problems: [], unreachable: true }));
    expect(html).toContain("server is not answering");
    expect(html).toContain("bg-red-50");
  });
});
