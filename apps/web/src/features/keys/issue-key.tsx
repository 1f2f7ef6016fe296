"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { CodeBlock, CopyButton } from "../../components/copy-button";
import { Alert, Button, Field, Input, Select, cx } from "../../components/ui";
import { issueKeyAction } from "./actions";
import { clientConfigs } from "./client-configs";

export function IssueKeyPanel({
  teamId,
  linkId,
  linkName,
  url,
  members,
  currentUserId,
}: {
  teamId: string;
  linkId: string;
  linkName: string;
  url: string;
  /** Members who may hold a key on this link (admins see everyone eligible; members only themselves). */
  members: { id: string; label: string }[];
  currentUserId: string;
}) {
  const router = useRouter();
  const [issued, setIssued] = useState<{ key: string; prefix: string }>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [client, setClient] = useState(0);
  const configs = clientConfigs(linkName, url, issued?.key);

  async function onSubmit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const expires = String(form.get("expires") ?? "90");
    setPending(true);
    setError(undefined);
    const result = await issueKeyAction({
      teamId,
      linkId,
      name: String(form.get("name") ?? ""),
      expiresInDays: expires === "never" ? null : Number(expires),
      userId: String(form.get("userId") ?? currentUserId),
    });
    setPending(false);
    if (!result.ok) return setError(result.error);
    setIssued({ key: result.data.key, prefix: result.data.prefix });
    router.refresh();
  }

  return (
    <div className="space-y-6">
      {issued ? (
        <Alert tone="green" title="Your new key — copy it now, it will not be shown again">
          <div className="mt-2 flex items-center gap-2">
            <code data-testid="new-api-key" className="min-w-0 flex-1 truncate rounded bg-white px-2 py-1 font-mono text-xs text-zinc-900 ring-1 ring-emerald-200">{issued.key}</code>
            <CopyButton value={issued.key} label="Copy key" />
          </div>
          <p className="mt-2 text-xs">The configs below already contain it.</p>
        </Alert>
      ) : (
        <form onSubmit={onSubmit} className="grid grid-cols-1 items-end gap-3 sm:grid-cols-12" noValidate>
          <Field label="Key name" htmlFor="key-name" className="sm:col-span-4">
            <Input id="key-name" name="name" placeholder="laptop-cursor" required />
          </Field>
          {members.length > 1 ? (
            <Field label="For" htmlFor="key-user" className="sm:col-span-3">
              <Select id="key-user" name="userId" defaultValue={currentUserId}>
                {members.map((m) => (
                  <option key={m.id} value={m.id}>{m.label}</option>
                ))}
              </Select>
            </Field>
          ) : null}
          <Field label="Expires" htmlFor="key-expires" className="sm:col-span-3">
            <Select id="key-expires" name="expires" defaultValue="90">
              <option value="7">in 7 days</option>
              <option value="30">in 30 days</option>
              <option value="90">in 90 days</option>
              <option value="365">in 1 year</option>
              <option value="never">never</option>
            </Select>
          </Field>
          <div className={cx(members.length > 1 ? "sm:col-span-2" : "sm:col-span-5")}>
            <Button type="submit" disabled={pending} className="w-full">{pending ? "Creating…" : "Create key"}</Button>
          </div>
          {error ? <div className="sm:col-span-12"><Alert>{error}</Alert></div> : null}
        </form>
      )}

      <div>
        <div role="tablist" aria-label="AI client" className="flex flex-wrap gap-1 border-b border-zinc-200">
          {configs.map((c, i) => (
            <button
              key={c.client}
              role="tab"
              type="button"
              aria-selected={client === i}
              onClick={() => setClient(i)}
              className={cx("-mb-px border-b-2 px-3 py-2 text-sm font-medium", client === i ? "border-brand-600 text-brand-700" : "border-transparent text-zinc-500 hover:text-zinc-800")}
            >
              {c.title}
            </button>
          ))}
        </div>
        {configs[client] ? (
          <div role="tabpanel" className="space-y-2 pt-4">
            <p className="text-sm text-zinc-600">{configs[client].where}</p>
            <CodeBlock code={configs[client].snippet} label={`Copy ${configs[client].title} config`} />
            {!issued ? <p className="text-xs text-zinc-500">Create a key above and it replaces <code>&lt;YOUR_KEY&gt;</code> here.</p> : null}
          </div>
        ) : null}
      </div>
    </div>
  );
}
