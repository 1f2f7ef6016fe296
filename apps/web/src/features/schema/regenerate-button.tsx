"use client";
import { useState } from "react";
import { Button } from "../../components/ui";
import { regenerateDescriptionsAction } from "./actions";

export function RegenerateButton({ teamId, connectionId, tables, label = "Regenerate descriptions", small }: { teamId: string; connectionId: string; tables?: string[]; label?: string; small?: boolean }) {
  const [state, setState] = useState<"idle" | "pending" | "queued" | string>("idle");
  return (
    <span className="inline-flex items-center gap-2">
      <Button
        variant="secondary"
        className={small ? "px-2 py-0.5 text-xs" : undefined}
        disabled={state === "pending"}
        onClick={async () => {
          setState("pending");
          const result = await regenerateDescriptionsAction({ teamId, connectionId, tables });
          setState(result.ok ? "queued" : result.error);
        }}
      >
        {state === "pending" ? "Queuing…" : label}
      </Button>
      <span aria-live="polite" className="text-xs text-zinc-500">
        {state === "queued" ? "Queued — refresh in a moment. Human edits are kept." : state !== "idle" && state !== "pending" ? <span className="text-red-600">{state}</span> : null}
      </span>
    </span>
  );
}
