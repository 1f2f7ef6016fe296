"use client";
import { useEffect, useState } from "react";
import { Alert } from "../../components/ui";

const EVENT = "portcullis:decision";
type Notice = { id: number; tone: "green" | "red"; text: string };

/**
 * After a decision the queue refreshes, and the decided (or lost, or expired) request leaves it —
 * taking its card and any message inside it. The outcome is announced here instead, at the top of the
 * page, which the refresh keeps (same place in the tree, so React keeps its state).
 */
export function announceDecision(tone: Notice["tone"], text: string): void {
  window.dispatchEvent(new CustomEvent(EVENT, { detail: { tone, text } }));
}

export function DecisionNotices() {
  const [notices, setNotices] = useState<Notice[]>([]);
  useEffect(() => {
    let next = 0;
    const on = (e: Event) => {
      const { tone, text } = (e as CustomEvent<{ tone: Notice["tone"]; text: string }>).detail;
      setNotices((list) => [{ id: next++, tone, text }, ...list].slice(0, 5));
    };
    window.addEventListener(EVENT, on);
    return () => window.removeEventListener(EVENT, on);
  }, []);
  return (
    <div className="mb-4 space-y-2 empty:hidden" aria-live="polite" data-testid="decision-notices">
      {notices.map((n) => (
        <div key={n.id} className="flex items-start gap-2">
          <div className="flex-1"><Alert tone={n.tone}>{n.text}</Alert></div>
          <button type="button" className="text-xs text-zinc-500 hover:text-zinc-900" onClick={() => setNotices((list) => list.filter((x) => x.id !== n.id))} aria-label="Dismiss">×</button>
        </div>
      ))}
    </div>
  );
}
