"use client";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";

/**
 * Live updates by polling: re-renders the server page every few seconds while the tab is visible.
 * Polling (not a socket) keeps the dashboard stateless behind any load balancer; the keyset query on
 * the first page is an index range scan, so each refresh is cheap.
 */
export function LiveRefresh({ enabled, intervalMs = 4000 }: { enabled: boolean; intervalMs?: number }) {
  const router = useRouter();
  const [on, setOn] = useState(enabled);
  useEffect(() => {
    if (!on) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") router.refresh();
    }, intervalMs);
    return () => clearInterval(timer);
  }, [on, intervalMs, router]);
  return (
    <label className="inline-flex cursor-pointer items-center gap-2 text-sm text-zinc-600">
      <input type="checkbox" checked={on} onChange={(e) => setOn(e.target.checked)} className="rounded border-zinc-300" />
      <span className="flex items-center gap-1.5">
        {on ? <span className="h-2 w-2 animate-pulse rounded-full bg-emerald-500" aria-hidden="true" /> : null}
        Live
      </span>
    </label>
  );
}
