"use client";

import { useEffect, useState } from "react";
import { type Part, healthReportSchema } from "../app/api/health/parts";

const POLL_MS = 10_000;

export interface HealthBannerState {
  /** Parts with something to say (down or degraded), as /api/health words them. */
  problems: Part[];
  /** The dashboard's own server did not answer the last poll. */
  unreachable: boolean;
}

/** Polls /api/health and shows what is degraded; renders nothing while everything is fine. */
export function HealthBanner() {
  const [state, setState] = useState<HealthBannerState>({ problems: [], unreachable: false });
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      if (document.hidden) return;
      try {
        const response = await fetch("/api/health", { cache: "no-store" });
        const parsed = healthReportSchema.safeParse(await response.json());
        // A signed-out answer has no parts (the session expired): nothing to show here.
        if (!stopped) setState({ problems: parsed.success ? parsed.data.parts.filter((p) => p.message) : [], unreachable: false });
      } catch {
        if (!stopped) setState((s) => ({ problems: s.problems, unreachable: true }));
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), POLL_MS);
    const onVisible = () => void (document.hidden ? undefined : poll());
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, []);
  return <HealthBannerView {...state} />;
}

export function HealthBannerView({ problems, unreachable }: HealthBannerState) {
  if (!unreachable && problems.length === 0) return null;
  const severe = unreachable || problems.some((p) => p.state === "down" && (p.name === "database" || p.name === "gateway"));
  return (
    <div
      role="status"
      aria-live="polite"
      data-testid="health-banner"
      className={`mb-6 rounded-lg border px-4 py-3 text-sm ${severe ? "border-red-200 bg-red-50 text-red-900" : "border-amber-200 bg-amber-50 text-amber-900"}`}
    >
      <p className="font-medium">{unreachable ? "The dashboard's server is not answering" : "Part of Portcullis is degraded"}</p>
      <ul className="mt-1 list-disc space-y-0.5 pl-5">
        {unreachable && <li>This page cannot refresh; what it shows may be out of date. It retries every few seconds.</li>}
        {problems.map((p) => (
          <li key={p.name} data-part={p.name}>
            {p.message}
            {p.detail ? <span className="text-xs opacity-75"> ({p.detail})</span> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
