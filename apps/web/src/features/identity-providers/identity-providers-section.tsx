"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ConfirmButton } from "../../components/confirm-button";
import { Alert, Badge, Button, Card, CardHeader, Field, Input, Textarea } from "../../components/ui";
import type { IdentityProviderView } from "@portcullis/oauth";
import { addIdentityProviderAction, removeIdentityProviderAction } from "./actions";

/** What the page passes: the operations' view without its Date (a client component's props are serialized). */
export type IdentityProviderRow = Omit<IdentityProviderView, "createdAt">;

/**
 * Settings › Enterprise identity providers. An admin names an issuer the team trusts, where its keys
 * are (a JWKS URI, fetched by the server with the SSRF guard, or keys pasted here) and which OAuth
 * clients may redeem its ID-JAGs. Members are matched by the IdP's subject, and the first time by a
 * verified email of an existing member of this team.
 */
export function IdentityProvidersSection({ teamId, providers, tokenEndpoint }: { teamId: string; providers: IdentityProviderRow[]; tokenEndpoint: string }) {
  const router = useRouter();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  return (
    <Card data-testid="identity-providers">
      <CardHeader
        title="Enterprise identity providers"
        description={
          <>
            Let members sign AI clients in through your company&apos;s identity provider (MCP enterprise-managed authorization): the
            client redeems an ID-JAG at <code className="font-mono text-xs">{tokenEndpoint}</code> for a token on one link.
          </>
        }
      />
      {providers.length ? (
        <ul className="divide-y divide-zinc-100">
          {providers.map((p) => (
            <li key={p.id} className="flex flex-wrap items-start gap-3 px-5 py-3" data-testid="identity-provider-row">
              <div className="min-w-0 flex-1 text-sm">
                <p className="font-medium text-zinc-900">{p.name}</p>
                <p className="truncate font-mono text-xs text-zinc-600">{p.issuer}</p>
                <p className="mt-1 text-xs text-zinc-500">
                  Keys: {p.jwksUri ? <span className="font-mono">{p.jwksUri}</span> : `${p.inlineKeyIds.length} pasted (${p.inlineKeyIds.join(", ")})`}
                </p>
                <p className="mt-1 flex flex-wrap gap-1 text-xs text-zinc-500">
                  Clients: {p.allowedClientIds.map((c) => <Badge key={c}>{c}</Badge>)}
                </p>
                <p className="mt-1 text-xs text-zinc-400">{p.linkedIdentities} linked identit{p.linkedIdentities === 1 ? "y" : "ies"}</p>
              </div>
              <ConfirmButton
                label="Remove"
                title={`Remove ${p.name}?`}
                description="Tokens issued through this identity provider stop working at once, and linked identities are forgotten."
                confirmLabel="Remove"
                onConfirm={async () => {
                  const r = await removeIdentityProviderAction({ teamId, providerId: p.id });
                  if (r.ok) router.refresh();
                  return r;
                }}
              />
            </li>
          ))}
        </ul>
      ) : null}
      <form
        className="grid grid-cols-1 gap-3 border-t border-zinc-100 p-5 sm:grid-cols-2"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const f = new FormData(form);
          const value = (name: string) => String(f.get(name) ?? "").trim();
          setPending(true);
          const r = await addIdentityProviderAction({
            teamId,
            name: value("name"),
            issuer: String(f.get("issuer") ?? ""),
            ...(value("jwksUri") ? { jwksUri: value("jwksUri") } : {}),
            ...(value("jwks") ? { jwks: value("jwks") } : {}),
            allowedClientIds: value("clients").split(/[\s,]+/).filter(Boolean),
          });
          setPending(false);
          if (!r.ok) return setError(r.error);
          setError(undefined);
          form.reset();
          router.refresh();
        }}
      >
        <Field label="Name" htmlFor="idp-name">
          <Input id="idp-name" name="name" placeholder="Okta (acme)" required />
        </Field>
        <Field label="Issuer (exactly as in the assertions' iss)" htmlFor="idp-issuer">
          <Input id="idp-issuer" name="issuer" placeholder="https://acme.okta.com" required />
        </Field>
        <Field label="JWKS URI (https)" htmlFor="idp-jwks-uri">
          <Input id="idp-jwks-uri" name="jwksUri" placeholder="https://acme.okta.com/oauth2/v1/keys" />
        </Field>
        <Field label="Allowed client ids (space or comma separated)" htmlFor="idp-clients">
          <Input id="idp-clients" name="clients" placeholder="https://client.example.com/oauth/metadata.json" required />
        </Field>
        <Field label="…or the public keys (JWKS JSON) instead of a URI" htmlFor="idp-jwks" className="sm:col-span-2">
          <Textarea id="idp-jwks" name="jwks" rows={3} placeholder='{"keys":[{"kty":"EC","crv":"P-256","x":"…","y":"…","kid":"…"}]}' />
        </Field>
        <div className="sm:col-span-2 flex items-center justify-end gap-3">
          {error ? <div className="flex-1"><Alert>{error}</Alert></div> : null}
          <Button type="submit" disabled={pending}>{pending ? "Adding…" : "Trust this identity provider"}</Button>
        </div>
      </form>
    </Card>
  );
}
