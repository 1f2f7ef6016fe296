"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Button, Input } from "../../components/ui";
import { setMemberAttributeAction, unsetMemberAttributeAction } from "./actions";

/**
 * A member's NAME=VALUE attributes on this link, for row filters' {{member.attr.NAME}}. The server
 * checks names, sizes and that the member may use the link; every change is in the audit trail and
 * reaches the gateways within a second.
 */
export function MemberAttributesEditor({ teamId, linkId, userId, label, attributes }: { teamId: string; linkId: string; userId: string; label: string; attributes: Record<string, string> }) {
  const router = useRouter();
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [editing, setEditing] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  async function save(attr: string, text: string) {
    setPending(true);
    setError(undefined);
    const result = await setMemberAttributeAction({ teamId, linkId, userId, name: attr, value: text });
    setPending(false);
    if (!result.ok) return setError(result.fieldErrors?.name ?? result.fieldErrors?.value ?? result.error);
    setEditing(({ [attr]: _done, ...rest }) => rest);
    if (attr === name) {
      setName("");
      setValue("");
    }
    router.refresh();
  }

  async function remove(attr: string) {
    setPending(true);
    setError(undefined);
    const result = await unsetMemberAttributeAction({ teamId, linkId, userId, name: attr });
    setPending(false);
    if (!result.ok) return setError(result.error);
    router.refresh();
  }

  const entries = Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="mt-2 space-y-1.5" aria-label={`Attributes of ${label}`} role="group">
      {entries.length === 0 ? <p className="text-xs text-zinc-500">No attributes: a row filter using {"{{member.attr.…}}"} shows this member no rows.</p> : null}
      <ul className="space-y-1">
        {entries.map(([attr, current]) => (
          <li key={attr} className="flex flex-wrap items-center gap-2 text-xs">
            <code className="font-mono text-zinc-800">{attr}</code>
            <span className="text-zinc-400">=</span>
            {attr in editing ? (
              <>
                <Input aria-label={`Value of ${attr} for ${label}`} className="!w-48 py-0.5 text-xs" value={editing[attr]} onChange={(e) => setEditing({ ...editing, [attr]: e.target.value })} />
                <Button variant="secondary" className="py-0.5 text-xs" disabled={pending} onClick={() => save(attr, editing[attr] ?? "")}>Save</Button>
              </>
            ) : (
              <>
                <code className="font-mono text-zinc-700" data-testid={`attr-${attr}`}>{current}</code>
                <button type="button" className="text-brand-700 hover:underline" onClick={() => setEditing({ ...editing, [attr]: current })}>Edit</button>
              </>
            )}
            <button type="button" className="text-red-700 hover:underline" disabled={pending} onClick={() => remove(attr)} aria-label={`Remove ${attr} from ${label}`}>Remove</button>
          </li>
        ))}
      </ul>
      <form
        className="flex flex-wrap items-center gap-2 text-xs"
        onSubmit={(e) => {
          e.preventDefault();
          void save(name.trim(), value);
        }}
      >
        <Input aria-label={`New attribute name for ${label}`} placeholder="rep_id" className="!w-32 py-0.5 font-mono text-xs" value={name} onChange={(e) => setName(e.target.value)} />
        <span className="text-zinc-400">=</span>
        <Input aria-label={`New attribute value for ${label}`} placeholder="3" className="!w-40 py-0.5 text-xs" value={value} onChange={(e) => setValue(e.target.value)} />
        <Button type="submit" variant="secondary" className="py-0.5 text-xs" disabled={pending || !name.trim()}>Add attribute</Button>
      </form>
      {error ? <p className="text-xs text-red-600" role="alert">{error}</p> : null}
    </div>
  );
}
