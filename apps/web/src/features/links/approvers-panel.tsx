"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Badge, Button } from "../../components/ui";
import { setLinkApproversAction } from "./actions";

/**
 * Who decides this link's write and access requests. Owners and admins always do (listed, not
 * editable); members can be named. Viewers use no link and cannot approve (not offered; the server
 * refuses them too).
 */
export function ApproversPanel({
  teamId,
  linkId,
  members,
  approverIds,
}: {
  teamId: string;
  linkId: string;
  members: { id: string; label: string; role: string }[];
  approverIds: string[];
}) {
  const router = useRouter();
  const [chosen, setChosen] = useState(() => new Set(approverIds));
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState(false);
  const [pending, setPending] = useState(false);
  const leads = members.filter((m) => m.role === "owner" || m.role === "admin");
  const eligible = members.filter((m) => m.role === "member");
  const dirty = chosen.size !== approverIds.length || approverIds.some((a) => !chosen.has(a));

  async function save() {
    setPending(true);
    setError(undefined);
    setSaved(false);
    const result = await setLinkApproversAction({ teamId, linkId, userIds: [...chosen] });
    setPending(false);
    if (!result.ok) return setError(result.error);
    setSaved(true);
    router.refresh();
  }

  return (
    <div className="space-y-3">
      {error ? <Alert>{error}</Alert> : null}
      {saved ? <Alert tone="green">Approvers saved. They decide this link&apos;s requests from now on.</Alert> : null}
      <div>
        <h4 className="text-xs font-medium uppercase tracking-wide text-zinc-500">Always approve</h4>
        <ul className="mt-1 flex flex-wrap gap-2">
          {leads.map((m) => (
            <li key={m.id} className="text-sm text-zinc-800">
              {m.label} <Badge>{m.role}</Badge>
            </li>
          ))}
        </ul>
      </div>
      <fieldset>
        <legend className="text-xs font-medium uppercase tracking-wide text-zinc-500">Named approvers (members)</legend>
        {eligible.length === 0 ? (
          <p className="mt-1 text-sm text-zinc-500">The team has no members with the member role; invite one to name them here.</p>
        ) : (
          <ul className="mt-1 divide-y divide-zinc-100">
            {eligible.map((m) => (
              <li key={m.id} className="py-1.5">
                <label className="flex items-center gap-2 text-sm">
                  <input
                    type="checkbox"
                    checked={chosen.has(m.id)}
                    aria-label={`${m.label} approves this link's requests`}
                    onChange={(e) => {
                      const next = new Set(chosen);
                      if (e.target.checked) next.add(m.id);
                      else next.delete(m.id);
                      setChosen(next);
                      setSaved(false);
                    }}
                    className="rounded border-zinc-300 text-brand-600"
                  />
                  {m.label}
                </label>
              </li>
            ))}
          </ul>
        )}
      </fieldset>
      <div className="flex items-center justify-between gap-2">
        <p className="text-xs text-zinc-500">Approvers are told of new requests (e-mail and the team webhook) and decide them on the Approvals page or here. Nobody approves their own request unless the scope allows it.</p>
        <Button type="button" className="shrink-0" disabled={!dirty || pending} onClick={save}>{pending ? "Saving…" : "Save approvers"}</Button>
      </div>
    </div>
  );
}
