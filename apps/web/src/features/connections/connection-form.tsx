"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Field, Input, Select, Textarea, cx } from "../../components/ui";
import { createConnectionAction, testConnectionAction, updateConnectionAction } from "./actions";
import type { ConnectionInput } from "./operations";

/** The action parses `{ teamId, values: {…} }`: its field errors are keyed `values.<field>`. */
function formFieldErrors(fieldErrors: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(fieldErrors ?? {}).map(([k, v]) => [k.replace(/^values\./, ""), v]));
}

type TestResult = { ok: boolean; serverVersion?: string; latencyMs?: number; error?: string };

export function ConnectionForm({
  teamId,
  slug,
  existing,
}: {
  teamId: string;
  slug: string;
  existing?: { id: string; name: string; host: string; port: number; database: string; username: string; sslMode: string; sslCaCert: string | null };
}) {
  const router = useRouter();
  const [mode, setMode] = useState<"url" | "fields">(existing ? "fields" : "url");
  const [sslMode, setSslMode] = useState(existing?.sslMode ?? "prefer");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string>();
  const [test, setTest] = useState<TestResult>();
  const [pending, setPending] = useState<"test" | "save" | null>(null);

  function values(form: HTMLFormElement): ConnectionInput {
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
    };
  }

  async function run(kind: "test" | "save", form: HTMLFormElement) {
    setPending(kind);
    setErrors({});
    setFormError(undefined);
    const v = values(form);
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

      {test ? (
        test.ok ? (
          <Alert tone="green" title="Connected">
            PostgreSQL {test.serverVersion} · round trip {test.latencyMs} ms
          </Alert>
        ) : (
          <Alert title="Could not connect">{test.error}</Alert>
        )
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
