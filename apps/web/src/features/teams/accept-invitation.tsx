"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button } from "../../components/ui";
import { acceptInvitationAction } from "./actions";

export function AcceptInvitationButton({ token }: { token: string }) {
  const router = useRouter();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  return (
    <div className="space-y-3">
      {error ? <Alert>{error}</Alert> : null}
      <Button
        className="w-full"
        disabled={pending}
        onClick={async () => {
          setPending(true);
          const result = await acceptInvitationAction({ token });
          if (!result.ok) {
            setPending(false);
            setError(result.error);
            return;
          }
          router.push(`/t/${result.data.slug}`);
        }}
      >
        {pending ? "Joining…" : "Accept invitation"}
      </Button>
    </div>
  );
}
