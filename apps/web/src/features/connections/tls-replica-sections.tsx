"use client";
import { Button, Field, Input, Textarea } from "../../components/ui";

export interface TlsState {
  clientCert: string;
  clientKey: string;
  serverName: string;
  keyStored?: boolean;
}

/** Client certificate (mTLS) and the name verify-full checks; the CA bundle and sslmode sit above it. */
export function TlsClientSection({ tls, onChange, errors }: { tls: TlsState; onChange: (tls: TlsState) => void; errors: Record<string, string> }) {
  const set = (patch: Partial<TlsState>) => onChange({ ...tls, ...patch });
  const used = Boolean(tls.clientCert || tls.keyStored || tls.serverName);
  return (
    <details open={used} className="rounded-lg border border-zinc-200 px-4 py-3" data-section="tls">
      <summary className="cursor-pointer text-sm font-medium text-zinc-800">TLS client certificate and server name</summary>
      <div className="mt-3 space-y-3">
        <Field label="Client certificate (PEM)" htmlFor="tls-cert" error={errors["tls.clientCert"]} hint="For servers whose pg_hba.conf says clientcert=verify-full (or verify-ca).">
          <Textarea id="tls-cert" rows={3} value={tls.clientCert} onChange={(e) => set({ clientCert: e.target.value })} placeholder="-----BEGIN CERTIFICATE-----" className="font-mono text-xs" spellCheck={false} />
        </Field>
        <Field
          label="Client key (PEM)"
          htmlFor="tls-key"
          error={errors["tls.clientKey"]}
          hint={tls.keyStored && !tls.clientKey ? "Key stored (sealed), never shown again. Paste another to replace it." : "Stored sealed; never shown again."}
        >
          <Textarea id="tls-key" rows={3} value={tls.clientKey} onChange={(e) => set({ clientKey: e.target.value })} placeholder={tls.keyStored ? "•••••••• (stored)" : "-----BEGIN PRIVATE KEY-----"} className="font-mono text-xs" spellCheck={false} />
        </Field>
        <Field label="Certificate host (verify-full)" htmlFor="tls-server-name" error={errors["tls.serverName"]} hint="What verify-full checks in the server's certificate when it is not the host above (e.g. connecting by IP or through a tunnel).">
          <Input id="tls-server-name" value={tls.serverName} onChange={(e) => set({ serverName: e.target.value })} placeholder="db.internal" spellCheck={false} />
        </Field>
      </div>
    </details>
  );
}

export interface ReplicaState {
  name: string;
  host: string;
  port: string;
}

/** Read replicas: same database, user, password, SSH route and TLS as the primary; reads go there. */
export function ReplicasSection({
  replicas,
  maxLagSeconds,
  onChange,
  onMaxLag,
  errors,
}: {
  replicas: ReplicaState[];
  maxLagSeconds: string;
  onChange: (replicas: ReplicaState[]) => void;
  onMaxLag: (value: string) => void;
  errors: Record<string, string>;
}) {
  const set = (i: number, patch: Partial<ReplicaState>) => onChange(replicas.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <details open={replicas.length > 0} className="rounded-lg border border-zinc-200 px-4 py-3" data-section="replicas">
      <summary className="cursor-pointer text-sm font-medium text-zinc-800">Read replicas {replicas.length ? `· ${replicas.length}` : ""}</summary>
      <p className="mt-2 text-xs text-zinc-500">Read-only statements go to a replica that is up and not lagging; writes and admin statements always go to the primary.</p>
      <div className="mt-3 space-y-2">
        {replicas.map((r, i) => (
          <div key={i} className="grid grid-cols-1 items-end gap-2 sm:grid-cols-8" aria-label={`Replica ${i + 1}`}>
            <Field label="Replica" htmlFor={`replica-name-${i}`} className="sm:col-span-2" error={errors[`replicas.${i}.name`] ?? (i === 0 ? errors.replicas : undefined)}>
              <Input id={`replica-name-${i}`} value={r.name} onChange={(e) => set(i, { name: e.target.value })} placeholder="replica-1" spellCheck={false} />
            </Field>
            <Field label="Replica host" htmlFor={`replica-host-${i}`} className="sm:col-span-3" error={errors[`replicas.${i}.host`]}>
              <Input id={`replica-host-${i}`} value={r.host} onChange={(e) => set(i, { host: e.target.value })} spellCheck={false} />
            </Field>
            <Field label="Replica port" htmlFor={`replica-port-${i}`} className="sm:col-span-2" error={errors[`replicas.${i}.port`]}>
              <Input id={`replica-port-${i}`} type="number" value={r.port} onChange={(e) => set(i, { port: e.target.value })} />
            </Field>
            <Button variant="ghost" onClick={() => onChange(replicas.filter((_, j) => j !== i))}>Remove</Button>
          </div>
        ))}
        <Button variant="secondary" onClick={() => onChange([...replicas, { name: `replica-${replicas.length + 1}`, host: "", port: "5432" }])}>Add a replica</Button>
        {replicas.length > 0 ? (
          <Field label="Maximum lag (seconds)" htmlFor="replica-max-lag" error={errors.replicaMaxLagSeconds} hint="A replica further behind than this is skipped until it catches up.">
            <Input id="replica-max-lag" type="number" min={1} value={maxLagSeconds} onChange={(e) => onMaxLag(e.target.value)} className="max-w-32" />
          </Field>
        ) : null}
      </div>
    </details>
  );
}
