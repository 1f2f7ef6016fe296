"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Button } from "../../components/ui";
import { revokeOtherSessionsAction, revokeSessionAction } from "./actions";

export function RevokeOthersButton() {
  const router = useRouter();
  const [message, setMessage] = useState<string>();
  return (
    <span className="inline-flex items-center gap-2">
      <Button
        variant="secondary"
        onClick={async () => {
          const r = await revokeOtherSessionsAction({});
          setMessage(r.ok ? `Signed out ${r.data.revoked} other session${r.data.revoked === 1 ? "" : "s"}.` : r.error);
          router.refresh();
        }}
      >
        Sign out other sessions
      </Button>
      <span aria-live="polite" className="text-xs text-zinc-500">{message}</span>
    </span>
  );
}

export function RevokeSessionButton({ sessionId }: { sessionId: string }) {
  const router = useRouter();
  return (
    <Button
      variant="ghost"
      className="px-2 py-1 text-xs"
      onClick={async () => {
        await revokeSessionAction({ sessionId });
        router.refresh();
      }}
    >
      Sign out
    </Button>
  );
}
