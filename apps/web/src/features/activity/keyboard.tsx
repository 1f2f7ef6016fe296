"use client";
import { useRouter } from "next/navigation";
import { useEffect } from "react";

/**
 * Activity is read by leads scanning many rows: "/" jumps to the SQL search, j/k move between
 * events, Enter opens the focused one (it is a link), Esc closes the detail panel.
 */
export function ActivityKeyboard({ closeHref }: { closeHref?: string }) {
  const router = useRouter();
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      const target = e.target as HTMLElement;
      if (target.closest("input, textarea, select, [contenteditable=true]") || e.metaKey || e.ctrlKey || e.altKey) {
        if (e.key === "Escape") target.blur();
        return;
      }
      if (e.key === "/") {
        e.preventDefault();
        document.getElementById("f-q")?.focus();
      } else if (e.key === "j" || e.key === "k") {
        const rows = Array.from(document.querySelectorAll<HTMLAnchorElement>("[data-event-link]"));
        if (rows.length === 0) return;
        const current = rows.indexOf(document.activeElement as HTMLAnchorElement);
        const next = current < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, current + (e.key === "j" ? 1 : -1)));
        rows[next]?.focus();
        e.preventDefault();
      } else if (e.key === "Escape" && closeHref) {
        router.push(closeHref, { scroll: false });
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [closeHref, router]);
  return (
    <p className="hidden text-xs text-zinc-400 lg:block" aria-hidden="true">
      <kbd className="rounded bg-zinc-100 px-1">/</kbd> search · <kbd className="rounded bg-zinc-100 px-1">j</kbd>/<kbd className="rounded bg-zinc-100 px-1">k</kbd> move · <kbd className="rounded bg-zinc-100 px-1">↵</kbd> open · <kbd className="rounded bg-zinc-100 px-1">esc</kbd> close
    </p>
  );
}
