"use client";
import { Button, Field, Input, Textarea } from "../../components/ui";

/** One hop as the form holds it; `keyStored` / `passphraseStored`: the server has one (never sent back). */
export interface HopState {
  host: string;
  port: string;
  username: string;
  privateKey: string;
  passphrase: string;
  hostKeySha256?: string;
  keyStored?: boolean;
  passphraseStored?: boolean;
}

export const emptyHop = (): HopState => ({ host: "", port: "22", username: "", privateKey: "", passphrase: "" });

/**
 * The SSH route in dialling order. The bastion (the hop that forwards to the database) is last; "add a
 * jump host" puts one before it, as ssh's ProxyJump does.
 */
export function SshSection({ hops, onChange, errors }: { hops: HopState[]; onChange: (hops: HopState[]) => void; errors: Record<string, string> }) {
  // A pinned key belongs to the server it was confirmed for: another host or port starts unconfirmed.
  const set = (i: number, patch: Partial<HopState>) =>
    onChange(hops.map((h, j) => (j === i ? { ...h, ...patch, ...("host" in patch || "port" in patch ? { hostKeySha256: undefined } : {}) } : h)));
  return (
    <details open={hops.length > 0} className="rounded-lg border border-zinc-200 px-4 py-3" data-section="ssh">
      <summary className="cursor-pointer text-sm font-medium text-zinc-800">SSH tunnel {hops.length ? `· ${hops.length} hop${hops.length === 1 ? "" : "s"}` : ""}</summary>
      <p className="mt-2 text-xs text-zinc-500">
        The gateway dials the first hop; each hop dials the next, and the last one (the bastion) reaches the database host and port above. Keys are encrypted at rest and never shown again.
      </p>
      {hops.length === 0 ? (
        <Button variant="secondary" className="mt-3" onClick={() => onChange([emptyHop()])}>Connect through an SSH bastion</Button>
      ) : (
        <div className="mt-3 space-y-4">
          <Button variant="ghost" onClick={() => onChange([emptyHop(), ...hops])}>+ Add a jump host before</Button>
          {hops.map((hop, i) => {
            const key = `sshHops.${i}`;
            const label = i === hops.length - 1 ? "Bastion" : `Jump host ${i + 1}`;
            return (
              <fieldset key={i} className="space-y-3 rounded-md bg-zinc-50 p-3" aria-label={label}>
                <div className="flex items-center justify-between">
                  <legend className="text-sm font-medium text-zinc-700">{label}</legend>
                  <Button variant="ghost" onClick={() => onChange(hops.filter((_, j) => j !== i))}>Remove</Button>
                </div>
                <div className="grid grid-cols-1 gap-3 sm:grid-cols-6">
                  <Field label="SSH host" htmlFor={`ssh-host-${i}`} className="sm:col-span-3" error={errors[`${key}.host`]}>
                    <Input id={`ssh-host-${i}`} value={hop.host} onChange={(e) => set(i, { host: e.target.value })} placeholder="bastion.example.com" spellCheck={false} />
                  </Field>
                  <Field label="SSH port" htmlFor={`ssh-port-${i}`} className="sm:col-span-1" error={errors[`${key}.port`]}>
                    <Input id={`ssh-port-${i}`} type="number" value={hop.port} onChange={(e) => set(i, { port: e.target.value })} />
                  </Field>
                  <Field label="SSH user" htmlFor={`ssh-user-${i}`} className="sm:col-span-2" error={errors[`${key}.username`]}>
                    <Input id={`ssh-user-${i}`} value={hop.username} onChange={(e) => set(i, { username: e.target.value })} spellCheck={false} autoComplete="off" />
                  </Field>
                </div>
                <Field
                  label="Private key"
                  htmlFor={`ssh-key-${i}`}
                  error={errors[`${key}.privateKey`]}
                  hint={hop.keyStored && !hop.privateKey ? "Key stored. Paste or upload another to replace it." : "Paste the key file, or upload it. Write-only: nobody can read it back."}
                >
                  {hop.keyStored && !hop.privateKey ? <p className="text-sm text-zinc-600" data-testid={`ssh-key-stored-${i}`}>Key stored, replace:</p> : null}
                  <Textarea
                    id={`ssh-key-${i}`}
                    rows={3}
                    value={hop.privateKey}
                    onChange={(e) => set(i, { privateKey: e.target.value })}
                    placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
                    spellCheck={false}
                    className="font-mono text-xs"
                  />
                  <input
                    type="file"
                    aria-label={`Upload the private key of hop ${i + 1}`}
                    className="mt-1 text-xs"
                    onChange={async (e) => {
                      const file = e.target.files?.[0];
                      if (file) set(i, { privateKey: await file.text() });
                    }}
                  />
                </Field>
                <Field label="Passphrase" htmlFor={`ssh-pass-${i}`} error={errors[`${key}.passphrase`]} hint={hop.passphraseStored ? "Stored; leave empty to keep it." : "Only if the key has one."}>
                  <Input id={`ssh-pass-${i}`} type="password" value={hop.passphrase} onChange={(e) => set(i, { passphrase: e.target.value })} autoComplete="new-password" />
                </Field>
                <p className="text-xs text-zinc-500" data-testid={`ssh-pinned-${i}`}>
                  Host key: {hop.hostKeySha256 ? <span className="font-mono text-zinc-800">{hop.hostKeySha256}</span> : "not confirmed yet — test the connection to see the one the server offers"}
                </p>
              </fieldset>
            );
          })}
        </div>
      )}
    </details>
  );
}
