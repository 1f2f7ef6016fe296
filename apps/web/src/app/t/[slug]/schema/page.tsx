import Link from "next/link";
import { notFound } from "next/navigation";
import { Badge, Button, ButtonLink, Card, EmptyState, PageHeader, Select, formatDate } from "@/components/ui";
import { DescriptionEditor } from "@/features/schema/description-editor";
import { hiddenUnder, schemaView } from "@/features/schema/operations";
import { RegenerateButton } from "@/features/schema/regenerate-button";
import { roleAtLeast } from "@/lib/authz";
import { getPrisma } from "@/lib/db";
import { requireTeamPage } from "@/lib/session";

export const metadata = { title: "Schema" };

export default async function SchemaPage({ params, searchParams }: { params: Promise<{ slug: string }>; searchParams: Promise<{ connection?: string; link?: string }> }) {
  const { slug } = await params;
  const sp = await searchParams;
  const ctx = await requireTeamPage(slug);
  const { team, role } = ctx;
  if (!roleAtLeast(role, "admin")) {
    return (
      <>
        <PageHeader title="Schema" />
        <EmptyState title="Only owners and admins browse connection schemas" description="Your links describe their own tables to your AI client through get_schema and describe_table, without anything the link hides." />
      </>
    );
  }
  const connections = await getPrisma().connection.findMany({ where: { teamId: team.id }, select: { id: true, name: true }, orderBy: { createdAt: "asc" } });
  if (connections.length === 0) {
    return (
      <>
        <PageHeader title="Schema" />
        <EmptyState title="No connections yet" description="Add a connection: its tables and columns appear here with descriptions your AI clients read." action={<ButtonLink href={`/t/${slug}/connections/new`}>Add a connection</ButtonLink>} />
      </>
    );
  }
  const connectionId = connections.find((c) => c.id === sp.connection)?.id ?? connections[0]!.id;
  const view = await schemaView(ctx, connectionId).catch(() => notFound());
  const link = view.links.find((l) => l.id === sp.link);
  const serialize = (key: string) => {
    const d = view.descriptions.get(key);
    return d ? { ...d, updatedAt: d.updatedAt.toISOString() } : undefined;
  };

  return (
    <>
      <PageHeader
        title="Schema"
        description="Tables and columns with the descriptions AI clients see in get_schema and describe_table. Write better ones in place; human edits are never overwritten."
        actions={<RegenerateButton teamId={team.id} connectionId={connectionId} />}
      />
      <form method="get" className="mb-4 flex flex-wrap items-end gap-3 rounded-lg bg-white p-3 ring-1 ring-zinc-200">
        <div>
          <label htmlFor="s-connection" className="mb-1 block text-xs font-medium text-zinc-600">Connection</label>
          <Select id="s-connection" name="connection" defaultValue={connectionId} className="!w-56 py-1 text-xs">
            {connections.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
          </Select>
        </div>
        <div>
          <label htmlFor="s-link" className="mb-1 block text-xs font-medium text-zinc-600">Mark what this link hides</label>
          <Select id="s-link" name="link" defaultValue={link?.id ?? ""} className="!w-56 py-1 text-xs">
            <option value="">No link</option>
            {view.links.map((l) => <option key={l.id} value={l.id}>{l.name}</option>)}
          </Select>
        </div>
        <Button type="submit" variant="secondary" className="py-1 text-xs">Show</Button>
        <span className="ml-auto text-xs text-zinc-500" data-testid="snapshot-summary">
          {view.takenAt ? `Snapshot ${formatDate(view.takenAt)} · ${view.tables.length} tables` : "No snapshot yet"}
          {view.diff && !view.diff.initial && view.diff.changes.length === 0 ? " · no changes since the previous one" : null}
        </span>
      </form>
      {view.diff && view.diff.changes.length > 0 ? (
        // What changed, for a lead checking whether new tables need hiding before AI clients see them.
        <details className="mb-4 rounded-lg bg-white px-3 py-2 text-xs ring-1 ring-zinc-200">
          <summary className="cursor-pointer font-medium text-zinc-700" data-testid="snapshot-diff">Since the previous snapshot: {view.diff.summary}</summary>
          <dl className="mt-2 grid grid-cols-1 gap-x-6 gap-y-2 sm:grid-cols-2">
            {view.diff.changes.map((g) => (
              <div key={g.label}>
                <dt className="text-zinc-500">{g.label}</dt>
                <dd className="font-mono text-zinc-800">{g.items.slice(0, 20).join(", ")}{g.items.length > 20 ? ` and ${g.items.length - 20} more` : ""}</dd>
              </div>
            ))}
          </dl>
        </details>
      ) : null}
      {view.tables.length === 0 ? (
        <EmptyState title="No snapshot of this connection yet" description="The worker reads the schema when a connection is added and every night. Start it now with “Regenerate descriptions” (the worker must be running)." />
      ) : (
        <div className="space-y-4">
          {view.tables.map((t) => {
            const hidden = link ? hiddenUnder(link.scope, t.schema, t.name) : null;
            const tableKey = `${t.schema}.${t.name}`;
            return (
              <Card key={tableKey} className={hidden?.table ? "opacity-70" : undefined}>
                <div className="flex flex-wrap items-start justify-between gap-3 border-b border-zinc-100 px-4 py-3">
                  <div className="min-w-0 flex-1">
                    <div className="flex flex-wrap items-center gap-2">
                      <h2 id={tableKey} className="font-mono text-sm font-semibold text-zinc-900">{tableKey}</h2>
                      {t.kind !== "table" ? <Badge>{t.kind.replace("_", " ")}</Badge> : null}
                      {t.rowEstimate !== null ? <span className="text-xs text-zinc-400">~{t.rowEstimate.toLocaleString("en")} rows</span> : null}
                      {hidden?.table ? <Badge tone="red">Hidden by {link!.name}</Badge> : null}
                      {hidden?.filtered && !hidden.table ? <Badge tone="amber">Rows filtered by {link!.name}</Badge> : null}
                    </div>
                    <div className="mt-1">
                      <DescriptionEditor teamId={team.id} connectionId={connectionId} schema={t.schema} table={t.name} column="" label={tableKey} info={serialize(`${tableKey}.`)} />
                    </div>
                  </div>
                  <RegenerateButton teamId={team.id} connectionId={connectionId} tables={[tableKey]} label="Regenerate" small />
                </div>
                <table className="min-w-full text-sm">
                  <tbody className="divide-y divide-zinc-50">
                    {t.columns.map((c) => {
                      const colHidden = hidden && (hidden.table || hidden.columns.has(c.name));
                      return (
                        <tr key={c.name} className={colHidden ? "bg-zinc-50" : undefined}>
                          <td className="w-56 px-4 py-1.5 align-top">
                            <span className={colHidden ? "font-mono text-xs text-zinc-400 line-through" : "font-mono text-xs text-zinc-900"}>{c.name}</span>
                            {t.primaryKey?.includes(c.name) ? <Badge tone="brand" className="ml-1">PK</Badge> : null}
                            {colHidden && !hidden?.table ? <Badge tone="red" className="ml-1">hidden</Badge> : null}
                            {!colHidden && hidden?.masked.has(c.name) ? <Badge tone="amber" className="ml-1">masked ({hidden.masked.get(c.name)})</Badge> : null}
                          </td>
                          <td className="w-44 px-2 py-1.5 align-top font-mono text-xs text-zinc-500">{c.type}{c.nullable ? "" : " not null"}</td>
                          <td className="px-2 py-1 align-top">
                            <DescriptionEditor teamId={team.id} connectionId={connectionId} schema={t.schema} table={t.name} column={c.name} label={`${tableKey}.${c.name}`} info={serialize(`${tableKey}.${c.name}`)} />
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </Card>
            );
          })}
        </div>
      )}
      <p className="mt-6 text-xs text-zinc-500">
        Tip: pick a link above to see exactly which tables and columns its AI clients cannot see. Change it in the link&apos;s <Link className="text-brand-600" href={`/t/${slug}/links`}>scope</Link>.
      </p>
    </>
  );
}
