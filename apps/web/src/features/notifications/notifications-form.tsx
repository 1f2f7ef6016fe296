"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { CopyButton } from "../../components/copy-button";
import { Alert, Button, Field, Input, Select } from "../../components/ui";
import { rotateWebhookSecretAction, saveNotificationSettingsAction } from "./actions";

export interface NotificationSettingsProps {
  webhookUrl: string | null;
  webhookFormat: "portcullis" | "slack";
  emailApprovers: boolean;
  /** Whether a signing secret exists; the secret itself never reaches a page. */
  hasSecret: boolean;
}

/**
 * The signing secret is shown here once, from the action's reply (client state only): never from
 * the page's props, so a reload, another tab or the RSC payload never carries it.
 */
function SecretOnce({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div className="space-y-2 rounded-md bg-amber-50 p-3 ring-1 ring-amber-200" data-testid="webhook-secret-once">
      <p className="text-sm font-medium text-amber-900">Signing secret — copy it now; it is not shown again.</p>
      <div className="flex items-center gap-2">
        <code className="min-w-0 flex-1 break-all rounded bg-white px-2 py-1 font-mono text-xs ring-1 ring-amber-200" data-testid="webhook-secret">{secret}</code>
        <CopyButton value={secret} label="Copy secret" />
      </div>
      <p className="text-xs text-amber-800">Verify each delivery: <code>Portcullis-Signature: t=…,v1=…</code> is HMAC-SHA256 of <code>{"<t>.<body>"}</code> with this secret.</p>
      <Button variant="secondary" className="px-2 py-1 text-xs" onClick={onDone}>I stored it</Button>
    </div>
  );
}

export function NotificationsForm({ teamId, settings }: { teamId: string; settings: NotificationSettingsProps }) {
  const router = useRouter();
  const [state, setState] = useState<{ ok?: string; error?: string; fieldErrors?: Record<string, string> }>({});
  const [secret, setSecret] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  return (
    <div className="space-y-4">
      {secret ? <SecretOnce secret={secret} onDone={() => setSecret(null)} /> : null}
      <form
        className="space-y-4"
        noValidate
        aria-label="Notification channels"
        onSubmit={async (e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          setPending(true);
          const url = String(f.get("webhookUrl") ?? "").trim();
          const result = await saveNotificationSettingsAction({
            teamId,
            webhookUrl: url || null,
            webhookFormat: String(f.get("webhookFormat")) === "slack" ? "slack" : "portcullis",
            emailApprovers: f.get("emailApprovers") === "on",
          });
          setPending(false);
          if (result.ok) {
            setState({ ok: "Saved." });
            if (result.data.secret) setSecret(result.data.secret);
            router.refresh();
          } else setState({ error: result.error, fieldErrors: result.fieldErrors });
        }}
      >
        {state.ok ? <Alert tone="green">{state.ok}</Alert> : state.error && !state.fieldErrors?.webhookUrl ? <Alert>{state.error}</Alert> : null}
        <div className="grid grid-cols-1 gap-4 sm:grid-cols-3">
          <Field label="Webhook URL" htmlFor="webhook-url" className="sm:col-span-2" error={state.fieldErrors?.webhookUrl} hint="Each new request and each decision is POSTed here, signed. Leave empty for none.">
            <Input id="webhook-url" name="webhookUrl" type="url" defaultValue={settings.webhookUrl ?? ""} placeholder="https://hooks.example.com/portcullis" />
          </Field>
          <Field label="Format" htmlFor="webhook-format">
            <Select id="webhook-format" name="webhookFormat" defaultValue={settings.webhookFormat}>
              <option value="portcullis">Portcullis JSON</option>
              <option value="slack">Slack (incoming webhook)</option>
            </Select>
          </Field>
        </div>
        <label className="flex items-center gap-2 text-sm text-zinc-800">
          <input type="checkbox" name="emailApprovers" defaultChecked={settings.emailApprovers} className="h-4 w-4 rounded border-zinc-300" />
          E-mail the approvers of a link when a request waits for them
        </label>
        <div className="flex flex-wrap items-center gap-2">
          <Button type="submit" disabled={pending}>{pending ? "Saving…" : "Save"}</Button>
          {settings.webhookUrl && settings.hasSecret ? (
            <Button
              variant="secondary"
              disabled={pending}
              onClick={async () => {
                setPending(true);
                const result = await rotateWebhookSecretAction({ teamId });
                setPending(false);
                if (result.ok) {
                  setSecret(result.data.secret);
                  setState({ ok: "New signing secret made; the old one no longer signs deliveries." });
                } else setState({ error: result.error });
              }}
            >
              Rotate signing secret
            </Button>
          ) : null}
          {settings.hasSecret ? <span className="text-xs text-zinc-500">A signing secret is set (shown only when made).</span> : null}
        </div>
      </form>
    </div>
  );
}
