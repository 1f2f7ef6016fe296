"use client";
import { useRouter } from "next/navigation";
import Link from "next/link";
import { ConfirmButton } from "../../components/confirm-button";
import { Badge, EmptyState, Table, td, th, timeAgo, formatDate } from "../../components/ui";
import { revokeKeyAction } from "./actions";

export interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  user: { email: string; name: string | null };
  link: { id: string; name: string };
}

export function KeyTable({ teamId, slug, keys, showOwner, showLink }: { teamId: string; slug: string; keys: KeyRow[]; showOwner: boolean; showLink: boolean }) {
  const router = useRouter();
  if (keys.length === 0) {
    return <EmptyState title="No keys yet" description="Keys are issued per developer and per link. Create one above, paste the config into your AI client, and it shows up here with its last use." />;
  }
  const now = Date.now();
  return (
    <Table>
      <thead className="bg-zinc-50">
        <tr>
          <th className={th}>Name</th>
          <th className={th}>Key</th>
          {showLink ? <th className={th}>Link</th> : null}
          {showOwner ? <th className={th}>Member</th> : null}
          <th className={th}>Last used</th>
          <th className={th}>Expires</th>
          <th className={th}><span className="sr-only">Actions</span></th>
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-100">
        {keys.map((k) => {
          const expired = k.expiresAt && new Date(k.expiresAt).getTime() < now;
          return (
            <tr key={k.id} className={k.revokedAt || expired ? "text-zinc-400" : undefined}>
              <td className={td}>{k.name}</td>
              <td className={td}><code className="font-mono text-xs">{k.prefix}_…</code></td>
              {showLink ? <td className={td}><Link href={`/t/${slug}/links/${k.link.id}`} className="hover:text-brand-700">{k.link.name}</Link></td> : null}
              {showOwner ? <td className={td}>{k.user.name ?? k.user.email}</td> : null}
              <td className={td} title={formatDate(k.lastUsedAt)} suppressHydrationWarning>{timeAgo(k.lastUsedAt)}</td>
              <td className={td}>{k.expiresAt ? formatDate(k.expiresAt).slice(0, 10) : "Never"}</td>
              <td className={`${td} text-right`}>
                {k.revokedAt ? (
                  <Badge tone="red">Revoked</Badge>
                ) : expired ? (
                  <Badge>Expired</Badge>
                ) : (
                  <ConfirmButton
                    size="sm"
                    variant="secondary"
                    label="Revoke"
                    title={`Revoke “${k.name}”?`}
                    description="Clients using this key are refused from their next request (gateways drop it within a second). This cannot be undone; issue a new key instead."
                    confirmLabel="Revoke key"
                    onConfirm={async () => {
                      const result = await revokeKeyAction({ teamId, keyId: k.id });
                      if (result.ok) router.refresh();
                      return result;
                    }}
                  />
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </Table>
  );
}
