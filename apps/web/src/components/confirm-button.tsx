"use client";
import { useRef, useState } from "react";
import { Alert, Button } from "./ui";

/**
 * A destructive action behind a native <dialog>: focus is trapped and Escape closes it for free,
 * which is what keyboard users expect from a confirmation.
 */
export function ConfirmButton({
  label,
  title,
  description,
  confirmLabel,
  onConfirm,
  variant = "danger",
  size,
}: {
  label: string;
  title: string;
  description: React.ReactNode;
  confirmLabel?: string;
  onConfirm: () => Promise<{ ok: boolean; error?: string }>;
  variant?: "danger" | "secondary" | "ghost";
  size?: "sm";
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <>
      <Button variant={variant} className={size === "sm" ? "px-2 py-1 text-xs" : undefined} onClick={() => { setError(undefined); dialog.current?.showModal(); }}>
        {label}
      </Button>
      <dialog ref={dialog} className="m-auto w-full max-w-md rounded-lg p-0 shadow-xl backdrop:bg-zinc-900/40" aria-labelledby="confirm-title">
        <div className="p-5">
          <h2 id="confirm-title" className="text-base font-semibold text-zinc-900">{title}</h2>
          <div className="mt-2 text-sm text-zinc-600">{description}</div>
          {error ? <div className="mt-3"><Alert>{error}</Alert></div> : null}
        </div>
        <div className="flex justify-end gap-2 bg-zinc-50 px-5 py-3">
          <Button variant="secondary" onClick={() => dialog.current?.close()} autoFocus>
            Cancel
          </Button>
          <Button
            variant="danger"
            disabled={pending}
            onClick={async () => {
              setPending(true);
              const result = await onConfirm();
              setPending(false);
              if (result.ok) dialog.current?.close();
              else setError(result.error);
            }}
          >
            {pending ? "Working…" : (confirmLabel ?? label)}
          </Button>
        </div>
      </dialog>
    </>
  );
}
