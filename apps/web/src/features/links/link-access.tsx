"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Badge } from "../../components/ui";
import { setLinkAccessAction } from "./actions";
import { MemberAttributesEditor } from "./member-attributes-editor";

export function LinkAccessList({
  teamId,
  linkId,
  members,
  attributes = {},
}: {
  teamId: string;
  linkId: string;
  members: { id: string; label: string; role: string; granted: boolean }[];
  /** Member attributes on this link by user id (row filters' {{member.attr.NAME}}). */
  attributes?: Record<string, Record<string, string>>;
}) {
  const router = useRouter();
  const [error, setError] = useState<string>();
  return (
    <div className="space-y-3">
      {error ? <Alert>{error}</Alert> : null}
      <ul className="divide-y divide-zinc-100">
        {members.map((m) => {
          const always = m.role === "owner" || m.role === "admin";
          return (
            <li key={m.id} className="flex items-start justify-between gap-3 py-2">
              <div className="min-w-0 flex-1">
                <p className="text-sm text-zinc-900">{m.label}</p>
                <Badge>{m.role}</Badge>
                {always || (m.role === "member" && m.granted) ? (
                  <MemberAttributesEditor teamId={teamId} linkId={linkId} userId={m.id} label={m.label} attributes={attributes[m.id] ?? {}} />
                ) : null}
              </div>
              {always ? (
                <span className="text-xs text-zinc-500">Always has access</span>
              ) : m.role !== "member" ? (
                <span className="text-xs text-zinc-500">{m.role === "auditor" ? "Auditors" : "Viewers"} cannot hold keys</span>
              ) : (
                <label className="flex items-center gap-2 text-sm">
                  <input
                    type="checkbox"
                    defaultChecked={m.granted}
                    onChange={async (e) => {
                      const result = await setLinkAccessAction({ teamId, linkId, userId: m.id, granted: e.target.checked });
                      if (!result.ok) setError(result.error);
                      router.refresh();
                    }}
                  />
                  Can use this link
                </label>
              )}
            </li>
          );
        })}
      </ul>
      <p className="text-xs text-zinc-500">Withdrawing access revokes that member&apos;s keys for this link at once.</p>
    </div>
  );
}
