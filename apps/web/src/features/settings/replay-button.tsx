"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Button } from "../../components/ui";
import { replayDeadLettersAction } from "./actions";

export function ReplayDeadLettersButton({ teamId, count }: { teamId: string; count: number }) {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  return (
    <span className="inline-flex items-center gap-2">
      <span aria-live="polite" className={message?.ok === false ? "text-xs text-red-600" : "text-xs text-zinc-500"}>{message?.text}</span>
      <Button
        variant="secondary"
        disabled={pending}
        onClick={async () => {
          setPending(true);
          const result = await replayDeadLettersAction({ teamId });
          setPending(false);
          setMessage(result.ok ? { ok: true, text: `Replayed ${result.data.replayed} event${result.data.replayed === 1 ? "" : "s"}; the worker ingests them now.` } : { ok: false, text: result.error });
          if (result.ok) router.refresh();
        }}
      >
        {pending ? "Replaying…" : `Replay ${count === 1 ? "it" : `all ${count.toLocaleString("en")}`}`}
      </Button>
    </span>
  );
}
