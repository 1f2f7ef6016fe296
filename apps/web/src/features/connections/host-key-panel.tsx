"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert } from "../../components/ui";
import { confirmHostKeyAction } from "./actions";
import { TestResultView, type ConnectionTestView, type HostKeySeen } from "./test-result";

/**
 * The host keys a stored connection's hops offered to its last test that nobody confirmed (a first
 * use, or a changed key), with the pinned one when it changed. Confirming pins exactly the offered
 * fingerprint, on the server, and tests again with it.
 */
export function HostKeyPanel({ teamId, connectionId, keys, canConfirm }: { teamId: string; connectionId: string; keys: HostKeySeen[]; canConfirm: boolean }) {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  const [test, setTest] = useState<ConnectionTestView>();
  const [pinned, setPinned] = useState<boolean>();
  if (keys.length === 0 && !test) return null;
  const shown: ConnectionTestView = test ?? { ok: false, stage: "ssh_host_key", message: "The last test met an SSH host key that is not confirmed.", hostKeys: keys };
  return (
    <div className="space-y-2" data-testid="stored-host-keys">
      {error ? <Alert>{error}</Alert> : null}
      {pinned ? <Alert tone="green">Host key confirmed.</Alert> : null}
      <TestResultView
        test={shown}
        canConfirm={canConfirm}
        pending={pending}
        onConfirm={async (key) => {
          setPending(true);
          setError(undefined);
          const result = await confirmHostKeyAction({ teamId, connectionId, position: key.position, fingerprint: key.offered });
          setPending(false);
          if (!result.ok) return setError(result.error);
          setPinned(result.data.pinned);
          setTest(result.data.test);
          router.refresh();
        }}
      />
    </div>
  );
}
