"use client";
import { useEffect } from "react";

/**
 * A notification's deep link names one card: bring it into view once the page has rendered, and move
 * focus there so keyboard and screen-reader users land on it too.
 */
export function ScrollToHighlight({ targetId }: { targetId: string }) {
  useEffect(() => {
    const el = document.getElementById(targetId);
    if (!el) return;
    el.scrollIntoView({ block: "center" });
    el.focus({ preventScroll: true });
  }, [targetId]);
  return null;
}
