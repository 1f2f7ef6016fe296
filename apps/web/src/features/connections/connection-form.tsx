"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Field, Input, Select, Textarea, cx } from "../../components/ui";
import { confirmHostKeyAction, createConnectionAction, testConnectionAction, updateConnectionAction } from "./actions";
import type { ConnectionInput } from "./operations";
import { SshSection, type HopState } from "./ssh-section";
import { TestResultView, type ConnectionTestView, type HostKeySeen } from "./test-result";
import { ReplicasSection, TlsClientSection, type ReplicaState, type TlsState } from "./tls-replica-sections";

/** The action parses `{ teamId, values: {…} }`: its field errors are keyed `values.<field>`. */
function formFieldErrors(fieldErrors: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(fieldErrors ?? {}).map(([k, v]) => [k.replace(/^values\./, ""), v]));
}

/** What the edit page hands the form: never a secret, only whether one is stored. */
export interface ExistingConnection {
  id: string;
  name: string;
  host: string;
  port: number;
  database: string;
  username: string;
  sslMode: string;
  sslCaCert: string | null;
  sslClientCert?: string | null;
  sslClientKeyStored?: boolean;
  sslServerName?: string | null;
  replicaMaxLagMs?: number;
  sshHops?: { host: string; port: number; username: string; keyStored: boolean; passphraseStored: boolean; hostKeySha256: string | null }[];
  replicas?: { name: string; host: string; port: number }[];
}

const num = (v: string): number | undefined => (v.trim() === "" ? undefined : Number(v));

export function ConnectionForm({ teamId, slug, existing }: { teamId: string; slug: string; existing?: ExistingConnection }) {
  const router = useRouter();
  const [mode, setMode] = useState<"url" | "fields">(existing ? "fields" : "url");
  const [sslMode, setSslMode] = useState(existing?.sslMode ?? "prefer");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string>();
  const [test, setTest] = useState<ConnectionTestView>();
  const [pending, setPending] = useState<"test" | "save" | null>(null);
  const [hops, setHops] = useState<HopState[]>(
    () => existing?.sshHops?.map((h) => ({ host: h.host, port: String(h.port), username: h.username, privateKey: "", passphrase: "", keyStored: h.keyStored, passphraseStored: h.passphraseStored, hostKeySha256: h.hostKeySha256 ?? undefined })) ?? [],
  );
  const [tls, setTls] = useState<TlsState>({ clientCert: existing?.sslClientCert ?? "", clientKey: "", serverName: existing?.sslServerName ?? "", keyStored: existing?.sslClientKeyStored });
  const [replicas, setReplicas] = useState<ReplicaState[]>(() => existing?.replicas?.map((r) => ({ name: r.name, host: r.host, port: String(r.port) })) ?? []);
  const [maxLag, setMaxLag] = useState(String(Math.round((existing?.replicaMaxLagMs ?? 30_000) / 1000)));

  function values(form: HTMLFormElement, pinned: HopState[] = hops): ConnectionInput {
    const f = new FormData(form);
    const s = (k: string) => (f.get(k) as string | null) ?? undefined;
    return {
      name: s("name") ?? "",
      mode,
      url: s("url"),
      host: s("host"),
      port: s("port") ? Number(s("port")) : undefined,
      database: s("database"),
      username: s("username"),
      password: s("password"),
      sslMode: sslMode as ConnectionInput["sslMode"],
      sslCaCert: s("sslCaCert"),
      sshHops: pinned.map((h) => ({
        host: h.host,
        port: num(h.port) ?? 22,
        username: h.username,
        privateKey: h.privateKey || undefined,
        passphrase: h.passphrase || undefined,
        hostKeySha256: h.hostKeySha256 || undefined,
      })),
      tls: { clientCert: tls.clientCert || undefined, clientKey: tls.clientKey || undefined, serverName: tls.serverName || undefined },
      replicas: replicas.map((r) => ({ name: r.name, host: r.host, port: num(r.port) ?? 5432 })),
      replicaMaxLagSeconds: replicas.length ? num(maxLag) : undefined,
    };
  }

  /**
   * Pins exactly the fingerprint the test showed for that hop, then tests again: the route checks it.
   * A hop of the saved connection (and the saved hops before it) is confirmed on the stored row: while
   * stored secrets are kept, a pin from the form is not trusted (confirmHostKey pins only what was offered).
   */
  async function confirmHostKey(key: HostKeySeen, form: HTMLFormElement | null) {
    if (!form) return;
    const pinned = hops.map((h, i) => (i === key.position ? { ...h, hostKeySha256: key.offered } : h));
    const saved = existing?.sshHops;
    const storedHop = saved && hops.slice(0, key.position + 1).every((h, i) => saved[i] && saved[i].host === h.host.trim() && String(saved[i].port) === String(h.port).trim() && saved[i].username === h.username.trim());
    if (existing && storedHop) {
      setPending("test");
      setFormError(undefined);
      const result = await confirmHostKeyAction({ teamId, connectionId: existing.id, position: key.position, fingerprint: key.offered });
      setPending(null);
      if (!result.ok) {
        setFormError(result.error);
        return;
      }
      if (result.data.pinned) setHops(pinned);
      setTest(result.data.test);
      return;
    }
    setHops(pinned);
    await run("test", form, pinned);
  }

  async function run(kind: "test" | "save", form: HTMLFormElement, pinned: HopState[] = hops) {
    setPending(kind);
    setErrors({});
    setFormError(undefined);
    const v = values(form, pinned);
    if (kind === "test") {
      const result = await testConnectionAction({ teamId, connectionId: existing?.id, values: v });
      setPending(null);
      if (!result.ok) {
        setErrors(formFieldErrors(result.fieldErrors));
        if (!result.fieldErrors) setFormError(result.error);
        return;
      }
      setTest(result.data);
      return;
    }
    const result = existing
      ? await updateConnectionAction({ teamId, connectionId: existing.id, values: v })
      : await createConnectionAction({ teamId, values: v });
    setPending(null);
    if (!result.ok) {
      setErrors(formFieldErrors(result.fieldErrors));
      if (!result.fieldErrors) setFormError(result.error);
      return;
    }
    if ("test" in result.data) {
      setTest(result.data.test);
      return;
    }
    router.push(`/t/${slug}/connections`);
    router.refresh();
  }

  const tab = (m: "url" | "fields", label: string) => (
    <button
      type="button"
      role="tab"
      aria-selected={mode === m}
      onClick={() => setMode(m)}
      className={cx("rounded-md px-3 py-1 text-sm font-medium", mode === m ? "bg-white text-zinc-900 shadow-sm ring-1 ring-zinc-200" : "text-zinc-500 hover:text-zinc-800")}
    >
      {label}
    </button>
  );

  return (
    <form
      className="space-y-5"
      data-connection-form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void run("save", e.currentTarget);
      }}
    >
      {formError ? <Alert>{formError}</Alert> : null}
      <Field label="Name" htmlFor="name" hint="How your team will recognise it, e.g. “production replica”." error={errors.name}>
        <Input id="name" name="name" defaultValue={existing?.name} required autoFocus aria-invalid={!!errors.name} />
      </Field>
      <div role="tablist" aria-label="How to enter the connection" className="inline-flex rounded-lg bg-zinc-100 p-1">
        {tab("url", "Connection URL")}
        {tab("fields", "Individual fields")}
      </div>
      {mode === "url" ? (
        <Field label="Connection URL" htmlFor="url" hint="postgresql://user:password@host:5432/database — the password is encrypted at rest and never shown again." error={errors.url}>
          <Input id="url" name="url" placeholder="postgresql://readonly:••••@db.internal:5432/app" autoComplete="off" spellCheck={false} className="font-mono" aria-invalid={!!errors.url} />
        </Field>
      ) : (
        <div className="grid grid-cols-1 gap-4 sm:grid-cols-6">
          <Field label="Host" htmlFor="host" className="sm:col-span-4" error={errors.host}>
            <Input id="host" name="host" defaultValue={existing?.host} placeholder="db.internal" spellCheck={false} aria-invalid={!!errors.host} />
          </Field>
          <Field label="Port" htmlFor="port" className="sm:col-span-2" error={errors.port}>
            <Input id="port" name="port" type="number" defaultValue={existing?.port ?? 5432} />
          </Field>
          <Field label="Database" htmlFor="database" className="sm:col-span-3" error={errors.database}>
            <Input id="database" name="database" defaultValue={existing?.database} spellCheck={false} aria-invalid={!!errors.database} />
          </Field>
          <Field label="User" htmlFor="username" className="sm:col-span-3" error={errors.username}>
            <Input id="username" name="username" defaultValue={existing?.username} spellCheck={false} autoComplete="off" aria-invalid={!!errors.username} />
          </Field>
          <Field
            label="Password"
            htmlFor="password"
            className="sm:col-span-6"
            hint={existing ? "Leave empty to keep the stored password. It is write-only: nobody can read it back." : "Encrypted at rest (AES-256-GCM). Write-only: nobody can read it back."}
          >
            <Input id="password" name="password" type="password" autoComplete="new-password" placeholder={existing ? "•••••••• (unchanged)" : ""} />
          </Field>
        </div>
      )}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <Field label="SSL mode" htmlFor="sslMode" hint="As libpq's sslmode. Use verify-full with a CA certificate across untrusted networks.">
          <Select id="sslMode" name="sslMode" value={sslMode} onChange={(e) => setSslMode(e.target.value)}>
            <option value="disable">disable — no TLS</option>
            <option value="prefer">prefer — TLS off loopback</option>
            <option value="require">require — TLS, certificate not checked</option>
            <option value="verify_ca">verify-ca — TLS, CA checked</option>
            <option value="verify_full">verify-full — TLS, CA and host name checked</option>
          </Select>
        </Field>
      </div>
      {sslMode === "verify_ca" || sslMode === "verify_full" ? (
        <Field label="CA certificate (PEM)" htmlFor="sslCaCert" hint="Leave empty to use the system's trusted CAs." error={errors.sslCaCert}>
          <Textarea id="sslCaCert" name="sslCaCert" rows={5} defaultValue={existing?.sslCaCert ?? ""} placeholder="-----BEGIN CERTIFICATE-----" />
        </Field>
      ) : null}

      <TlsClientSection tls={tls} onChange={setTls} errors={errors} />
      <SshSection hops={hops} onChange={setHops} errors={errors} />
      <ReplicasSection replicas={replicas} maxLagSeconds={maxLag} onChange={setReplicas} onMaxLag={setMaxLag} errors={errors} />

      {test ? (
        <TestResultView
          test={test}
          canConfirm
          pending={pending !== null}
          onConfirm={(key) => void confirmHostKey(key, document.querySelector<HTMLFormElement>("form[data-connection-form]"))}
        />
      ) : null}

      <div className="flex items-center justify-end gap-2 border-t border-zinc-200 pt-4">
        <Button
          variant="secondary"
          disabled={pending !== null}
          onClick={(e) => {
            const form = (e.currentTarget as HTMLButtonElement).form;
            if (form) void run("test", form);
          }}
        >
          {pending === "test" ? "Testing…" : "Test connection"}
        </Button>
        <Button type="submit" disabled={pending !== null}>
          {pending === "save" ? "Testing and saving…" : existing ? "Test and save" : "Test and add connection"}
        </Button>
      </div>
    </form>
  );
}
