import { Alert, Badge, Card } from "@/components/ui";

export interface ConsentView {
  clientName: string;
  origin: { kind: "metadata_document" | "dynamic_registration"; label: string };
  clientUri: string | null;
  redirectHost: string;
  /** The redirect URI's host exactly (MCP: the AS MUST clearly display the redirect URI hostname). */
  redirectUriHost: string;
  localhostOnly: boolean;
  scopes: { previous: { scope: string; description: string }[]; added: { scope: string; description: string }[] };
  link: { name: string; teamName: string; connectionName: string } | null;
  scopeLines: string[];
  hiddenFields: [string, string][];
}

/**
 * The consent screen. It names the client as it named itself and, next to it, what vouches for
 * that name (the host serving its metadata document, or nothing for a dynamic registration), so a
 * client calling itself "Claude" from an unknown host is visibly so. Plain HTML form posting to the
 * decision route: it works without JavaScript, and the browser follows the 303 to the client, even
 * to a private-use scheme (cursor://…).
 */
export function ConsentScreen({ view, allowed }: { view: ConsentView; allowed: boolean }) {
  return (
    <Card className="p-6">
      <h1 className="text-lg font-semibold tracking-tight text-zinc-900">
        Allow <span data-testid="consent-client-name">{view.clientName}</span> to use{" "}
        {view.link ? <span data-testid="consent-link-name">{view.link.name}</span> : "this link"}?
      </h1>
      <dl className="mt-4 space-y-3 text-sm">
        <div>
          <dt className="font-medium text-zinc-800">Application</dt>
          <dd className="mt-0.5 flex flex-wrap items-center gap-2 text-zinc-600">
            {view.clientName}
            {view.origin.kind === "metadata_document" ? (
              <Badge tone="blue">from {view.origin.label}</Badge>
            ) : (
              <Badge tone="amber">registered dynamically</Badge>
            )}
          </dd>
          {view.origin.kind === "dynamic_registration" ? (
            <dd className="mt-1 text-xs text-zinc-500">The name was chosen by the application itself and is not verified.</dd>
          ) : null}
          <dd className="mt-1 text-xs text-zinc-500">
            After your answer you will be sent back to {view.redirectHost} (<span className="font-mono" data-testid="consent-redirect-host">{view.redirectUriHost}</span>).
          </dd>
          {view.localhostOnly ? (
            <dd className="mt-2" data-testid="consent-localhost-warning">
              <Alert tone="amber" title="This application only returns to this computer">
                Every address it accepts is on localhost, so any program running on your computer could be receiving this answer. Approve only if you just started
                the sign-in from {view.clientName} yourself.
              </Alert>
            </dd>
          ) : null}
        </div>
        <div>
          <dt className="font-medium text-zinc-800">OAuth permissions</dt>
          <dd className="mt-1 text-zinc-600" data-testid="consent-scopes">
            {view.scopes.added.length ? (
              <ul className="list-disc space-y-1 pl-5">
                {view.scopes.added.map((s) => (
                  <li key={s.scope} data-testid="consent-scope-added">
                    <span className="font-mono text-xs">{s.scope}</span>
                    {view.scopes.previous.length ? <Badge tone="amber" className="ml-1">new</Badge> : null} — {s.description}
                  </li>
                ))}
              </ul>
            ) : (
              <p>Nothing new: it keeps what you granted before.</p>
            )}
            {view.scopes.previous.length ? (
              <p className="mt-1 text-xs text-zinc-500">
                Already granted: {view.scopes.previous.map((s) => s.scope).join(", ")}.
              </p>
            ) : null}
            <p className="mt-1 text-xs text-zinc-500">Within what the link itself allows, below.</p>
          </dd>
        </div>
        {view.link ? (
          <div>
            <dt className="font-medium text-zinc-800">MCP link</dt>
            <dd className="mt-0.5 text-zinc-600">
              {view.link.name} · team {view.link.teamName} · database connection {view.link.connectionName}
            </dd>
          </div>
        ) : null}
        {view.scopeLines.length ? (
          <div>
            <dt className="font-medium text-zinc-800">What it will be able to do, as you</dt>
            <dd className="mt-1">
              <ul className="list-disc space-y-1 pl-5 text-zinc-600" data-testid="consent-scope">
                {view.scopeLines.map((line) => (
                  <li key={line}>{line}</li>
                ))}
              </ul>
            </dd>
          </div>
        ) : null}
      </dl>
      {allowed ? null : (
        <div className="mt-4">
          <Alert tone="amber" title="You cannot approve this">
            You do not have access to this link. An owner or admin of its team can grant it to you.
          </Alert>
        </div>
      )}
      <form method="post" action="/oauth/authorize/decision" className="mt-6 flex justify-end gap-2">
        {view.hiddenFields.map(([name, value]) => (
          <input key={name} type="hidden" name={name} value={value} />
        ))}
        <button
          type="submit"
          name="decision"
          value="deny"
          className="inline-flex items-center justify-center rounded-md bg-white px-3 py-1.5 text-sm font-medium text-zinc-800 shadow-sm ring-1 ring-inset ring-zinc-300 hover:bg-zinc-50"
        >
          {allowed ? "Deny" : "Cancel"}
        </button>
        {allowed ? (
          <button
            type="submit"
            name="decision"
            value="approve"
            className="inline-flex items-center justify-center rounded-md bg-brand-600 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-brand-700"
          >
            Approve
          </button>
        ) : null}
      </form>
    </Card>
  );
}

export function AuthorizationErrorScreen({ title, message }: { title: string; message: string }) {
  return (
    <Card className="p-6">
      <h1 className="text-lg font-semibold tracking-tight text-zinc-900">{title}</h1>
      <div className="mt-3">
        <Alert>{message}</Alert>
      </div>
      <p className="mt-4 text-sm text-zinc-500">
        Nothing was shared with the application. Check the MCP link URL in its configuration and try again.
      </p>
    </Card>
  );
}
