"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ConfirmButton } from "../../components/confirm-button";
import { CopyButton } from "../../components/copy-button";
import { Alert, Badge, Button, Field, Input, Select } from "../../components/ui";
import {
  changeMemberRoleAction,
  deleteTeamAction,
  inviteMemberAction,
  removeMemberAction,
  revokeInvitationAction,
  updateTeamSettingsAction,
} from "../teams/actions";
import { assignableRoles, can, mayManageRole } from "../../lib/permissions";
import type { Role } from "@portcullis/db/client";


export function GeneralSettingsForm({ teamId, name, retention, canEdit }: { teamId: string; name: string; retention: number; canEdit: boolean }) {
  const router = useRouter();
  const [state, setState] = useState<{ ok?: boolean; error?: string; fieldErrors?: Record<string, string> }>({});
  return (
    <form
      className="space-y-4"
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        const result = await updateTeamSettingsAction({ teamId, name: String(f.get("name") ?? ""), auditRetentionDays: Number(f.get("retention")) });
        setState(result.ok ? { ok: true } : { error: result.error, fieldErrors: result.fieldErrors });
        if (result.ok) router.refresh();
      }}
    >
      {state.ok ? <Alert tone="green">Saved.</Alert> : state.error && !state.fieldErrors ? <Alert>{state.error}</Alert> : null}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <Field label="Team name" htmlFor="team-name" error={state.fieldErrors?.name}>
          <Input id="team-name" name="name" defaultValue={name} disabled={!canEdit} />
        </Field>
        <Field label="Keep audit events for (days)" htmlFor="retention" hint="Older events are deleted nightly by the worker; the hash chain records where it was cut." error={state.fieldErrors?.auditRetentionDays}>
          <Input id="retention" name="retention" type="number" min={1} max={3650} defaultValue={retention} disabled={!canEdit} />
        </Field>
      </div>
      {canEdit ? <Button type="submit">Save</Button> : null}
    </form>
  );
}

export function InviteForm({ teamId, canInviteAdmins }: { teamId: string; canInviteAdmins: boolean }) {
  const router = useRouter();
  const [result, setResult] = useState<{ url?: string; delivered?: string; error?: string }>({});
  const [pending, setPending] = useState(false);
  return (
    <div className="space-y-3">
      <form
        className="grid grid-cols-1 items-end gap-3 sm:grid-cols-12"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          setPending(true);
          const r = await inviteMemberAction({ teamId, email: String(f.get("email") ?? "") || null, role: String(f.get("role")) as Role });
          setPending(false);
          setResult(r.ok ? { url: r.data.url, delivered: r.data.delivered } : { error: r.error });
          if (r.ok) router.refresh();
        }}
      >
        <Field label="Email (leave empty for a shareable link)" htmlFor="invite-email" className="sm:col-span-6">
          <Input id="invite-email" name="email" type="email" placeholder="teammate@company.com" />
        </Field>
        <Field label="Role" htmlFor="invite-role" className="sm:col-span-3">
          <Select id="invite-role" name="role" defaultValue="member">
            {canInviteAdmins ? <option value="admin">Admin — manages connections, links, members</option> : null}
            <option value="member">Member — own keys on granted links</option>
            <option value="viewer">Viewer — reads activity</option>
            <option value="auditor">Auditor — reads and exports all activity, changes nothing</option>
          </Select>
        </Field>
        <div className="sm:col-span-3">
          <Button type="submit" className="w-full" disabled={pending}>{pending ? "Inviting…" : "Invite"}</Button>
        </div>
      </form>
      {result.error ? <Alert>{result.error}</Alert> : null}
      {result.url ? (
        <Alert tone="green" title={result.delivered === "smtp" ? "Invitation emailed" : result.delivered === "log" ? "Invitation created (SMTP is not configured: the email was printed to the server log)" : "Invitation link created"}>
          <div className="mt-1 flex items-center gap-2">
            <code className="min-w-0 flex-1 truncate rounded bg-white px-2 py-1 font-mono text-xs ring-1 ring-emerald-200" data-testid="invite-url">{result.url}</code>
            <CopyButton value={result.url} label="Copy link" />
          </div>
          <p className="mt-1 text-xs">Valid for 7 days, once.</p>
        </Alert>
      ) : null}
    </div>
  );
}

export function MemberRow({ teamId, member, actorRole, isSelf }: { teamId: string; member: { userId: string; label: string; email: string; role: Role }; actorRole: Role; isSelf: boolean }) {
  const router = useRouter();
  const [error, setError] = useState<string>();
  const canManage = can(actorRole, "admin") && (isSelf || mayManageRole(actorRole, member.role));
  return (
    <li className="flex flex-wrap items-center gap-3 px-5 py-3">
      <div className="min-w-0 flex-1">
        <p className="text-sm font-medium text-zinc-900">{member.label}{isSelf ? <span className="text-zinc-400"> (you)</span> : null}</p>
        <p className="text-xs text-zinc-500">{member.email}</p>
        {error ? <p className="text-xs text-red-600" role="alert">{error}</p> : null}
      </div>
      {canManage ? (
        <>
          <label className="sr-only" htmlFor={`role-${member.userId}`}>Role of {member.label}</label>
          <Select
            id={`role-${member.userId}`}
            className="!w-32 py-1 text-xs"
            defaultValue={member.role}
            onChange={async (e) => {
              const r = await changeMemberRoleAction({ teamId, userId: member.userId, role: e.target.value as Role });
              if (!r.ok) {
                setError(r.error);
                e.target.value = member.role;
              } else setError(undefined);
              router.refresh();
            }}
          >
            {assignableRoles(actorRole).map((r) => (
              <option key={r} value={r}>{r}</option>
            ))}
          </Select>
          <ConfirmButton
            size="sm"
            variant="ghost"
            label={isSelf ? "Leave" : "Remove"}
            title={isSelf ? "Leave this team?" : `Remove ${member.label}?`}
            description="Their keys for this team's links are revoked immediately."
            onConfirm={async () => {
              const r = await removeMemberAction({ teamId, userId: member.userId });
              if (r.ok) router.refresh();
              return r;
            }}
          />
        </>
      ) : (
        <Badge>{member.role}</Badge>
      )}
    </li>
  );
}

export function RevokeInvitationButton({ teamId, invitationId }: { teamId: string; invitationId: string }) {
  const router = useRouter();
  return (
    <Button
      variant="ghost"
      className="px-2 py-1 text-xs"
      onClick={async () => {
        await revokeInvitationAction({ teamId, invitationId });
        router.refresh();
      }}
    >
      Revoke
    </Button>
  );
}

export function DeleteTeamButton({ teamId, slug }: { teamId: string; slug: string }) {
  const router = useRouter();
  const [typed, setTyped] = useState("");
  return (
    <ConfirmButton
      label="Delete team"
      title="Delete this team and everything in it?"
      description={
        <div className="space-y-2">
          <p>Connections, links, keys and all recorded activity are deleted. This cannot be undone.</p>
          <label className="block text-xs" htmlFor="confirm-slug">Type <code className="font-mono">{slug}</code> to confirm</label>
          <Input id="confirm-slug" value={typed} onChange={(e) => setTyped(e.target.value)} />
        </div>
      }
      onConfirm={async () => {
        const r = await deleteTeamAction({ teamId, confirmSlug: typed });
        if (r.ok) router.push("/");
        return r;
      }}
    />
  );
}
