"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { CopyButton } from "../../components/copy-button";
import { Alert, Badge, Button, Field, Input, Select, formatDate } from "../../components/ui";
import { addAuditSinkAction, deleteAuditSinkAction, pauseAuditSinkAction, resumeAuditSinkAction, rotateAuditSinkSecretAction, testAuditSinkAction } from "./actions";
import type { SinkRow } from "./operations";

/** The signing secret, from an action's reply only (client state), shown once. */
function SecretOnce({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div className="space-y-2 rounded-md bg-amber-50 p-3 ring-1 ring-amber-200" data-testid="sink-secret-once">
      <p className="text-sm font-medium text-amber-900">Signing secret — copy it now; it is not shown again.</p>
      <div className="flex items-center gap-2">
        <code className="min-w-0 flex-1 break-all rounded bg-white px-2 py-1 font-mono text-xs ring-1 ring-amber-200" data-testid="sink-secret">{secret}</code>
        <CopyButton value={secret} label="Copy secret" />
      </div>
      <Button variant="secondary" className="px-2 py-1 text-xs" onClick={onDone}>I stored it</Button>
    </div>
  );
}

export function AddSinkForm({ teamId }: { teamId: string }) {
  const router = useRouter();
  const [kind, setKind] = useState<"webhook" | "file">("webhook");
  const [state, setState] = useState<{ error?: string; fieldErrors?: Record<string, string> }>({});
  const [secret, setSecret] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  return (
    <div className="space-y-3">
      {secret ? <SecretOnce secret={secret} onDone={() => setSecret(null)} /> : null}
      <form
        aria-label="Add an audit sink"
        noValidate
        className="grid grid-cols-1 gap-3 sm:grid-cols-4"
        onSubmit={async (e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const name = String(f.get("name") ?? "").trim();
          setPending(true);
          const result = await addAuditSinkAction(kind === "webhook" ? { teamId, kind, name, url: String(f.get("url") ?? "").trim() } : { teamId, kind, name });
          setPending(false);
          if (!result.ok) return setState({ error: result.error, fieldErrors: result.fieldErrors });
          setState({});
          if (result.data.secret) setSecret(result.data.secret);
          router.refresh();
        }}
      >
        {state.error ? <div className="sm:col-span-4"><Alert>{state.error}</Alert></div> : null}
        <Field label="Kind" htmlFor="sink-kind">
          <Select id="sink-kind" name="kind" value={kind} onChange={(e) => setKind(e.target.value === "file" ? "file" : "webhook")}>
            <option value="webhook">Signed webhook</option>
            <option value="file">JSON-lines files</option>
          </Select>
        </Field>
        <Field label="Name" htmlFor="sink-name" error={state.fieldErrors?.name} hint="Lower-case letters, digits, dashes.">
          <Input id="sink-name" name="name" required placeholder="splunk" />
        </Field>
        {kind === "webhook" ? (
          <Field label="Webhook URL" htmlFor="sink-url" className="sm:col-span-2" error={state.fieldErrors?.url}>
            <Input id="sink-url" name="url" type="url" placeholder="https://siem.example.com/portcullis" />
          </Field>
        ) : (
          <p className="self-end text-xs text-zinc-500 sm:col-span-2">Files go to the operator's AUDIT_EXPORT_DIR, under this team and the sink's name.</p>
        )}
        <div className="sm:col-span-4">
          <Button type="submit" disabled={pending}>{pending ? "Adding…" : "Add sink"}</Button>
        </div>
      </form>
    </div>
  );
}

export function SinkActions({ teamId, sink }: { teamId: string; sink: SinkRow }) {
  const router = useRouter();
  const [message, setMessage] = useState<{ tone: "red" | "green" | "amber"; text: string } | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const run = async (fn: () => Promise<{ ok: true; data: unknown } | { ok: false; error: string }>, done?: (data: unknown) => void) => {
    setPending(true);
    const result = await fn();
    setPending(false);
    if (!result.ok) return setMessage({ tone: "red", text: result.error });
    done?.(result.data);
    router.refresh();
  };
  const input = { teamId, sinkId: sink.id };
  return (
    <div className="space-y-2">
      {secret ? <SecretOnce secret={secret} onDone={() => setSecret(null)} /> : null}
      {message ? <Alert tone={message.tone}>{message.text}</Alert> : null}
      <div className="flex flex-wrap gap-1.5">
        {sink.status === "active" ? (
          <Button variant="secondary" className="px-2 py-1 text-xs" disabled={pending} onClick={() => run(() => pauseAuditSinkAction(input))}>Pause</Button>
        ) : (
          <Button variant="secondary" className="px-2 py-1 text-xs" disabled={pending} onClick={() => run(() => resumeAuditSinkAction(input))}>Resume</Button>
        )}
        <Button
          variant="secondary"
          className="px-2 py-1 text-xs"
          disabled={pending}
          onClick={() =>
            run(
              () => testAuditSinkAction(input),
              (data) => {
                const r = (data as { result: { ok: boolean; error: string | null } | null }).result;
                setMessage(r === null ? { tone: "amber", text: "No worker answered yet; the result will show here when one does." } : r.ok ? { tone: "green", text: "Test delivered." } : { tone: "red", text: `Test failed: ${r.error}` });
              },
            )
          }
        >
          Send test
        </Button>
        {sink.kind === "webhook" ? (
          <Button variant="secondary" className="px-2 py-1 text-xs" disabled={pending} onClick={() => run(() => rotateAuditSinkSecretAction(input), (data) => setSecret((data as { secret: string }).secret))}>Rotate secret</Button>
        ) : null}
        <Button
          variant="danger"
          className="px-2 py-1 text-xs"
          disabled={pending}
          onClick={() => {
            if (window.confirm(`Delete the sink ${sink.name}? Its cursor is lost.`)) void run(() => deleteAuditSinkAction(input));
          }}
        >
          Delete
        </Button>
      </div>
    </div>
  );
}

export function SinkStatus({ sink }: { sink: SinkRow }) {
  return (
    <div className="space-y-1 text-xs text-zinc-600">
      <div className="flex flex-wrap items-center gap-2">
        <Badge tone={sink.status === "active" ? (sink.failures > 0 ? "amber" : "green") : "red"}>{sink.status === "active" ? (sink.failures > 0 ? "retrying" : "active") : "paused"}</Badge>
        <span>cursor <code>{sink.cursorSeq}</code></span>
        <span>delivered {sink.deliveredCount}</span>
        <span>lag {sink.lag}</span>
        {sink.skippedEvents !== "0" ? <span>skipped {sink.skippedEvents}</span> : null}
        {sink.lastDeliveredAt ? <span>last delivery {formatDate(sink.lastDeliveredAt)}</span> : null}
      </div>
      {sink.skippedEvents !== "0" && sink.lastGapFrom && sink.lastGapTo ? (
        <p className="text-amber-800" data-testid="sink-gap">
          Retention removed {sink.skippedEvents} events before this sink received them; last gap: seq {sink.lastGapFrom}–{sink.lastGapTo}
          {sink.lastGapAt ? ` (${formatDate(sink.lastGapAt)})` : ""}. The receiver was sent a gap record for each.
        </p>
      ) : null}
      {sink.pausedReason ? <p className="text-red-700" data-testid="sink-paused-reason">{sink.pausedReason}</p> : null}
      {sink.lastError && sink.status === "active" ? <p className="text-amber-800">Last error: {sink.lastError}{sink.nextAttemptAt ? ` — next attempt ${formatDate(sink.nextAttemptAt)}` : ""}</p> : null}
      {sink.lastTestAt ? <p>Last test {formatDate(sink.lastTestAt)}: {sink.lastTestOk ? "delivered" : `failed — ${sink.lastTestError ?? "unknown error"}`}</p> : null}
    </div>
  );
}
