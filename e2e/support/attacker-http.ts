import { webUrl } from "./stack";

/**
 * HTTP as an attacker speaks it: no browser, no page script, just the dashboard's wire protocol.
 * A server action is a POST to any page whose bundle holds it, naming the action in `Next-Action`
 * and carrying the arguments as a JSON array — whatever the TypeScript signature says.
 */

export interface ActionReply {
  status: number;
  text: string;
  /** The action's return value when the flight payload carried one (null when it did not parse). */
  result: unknown;
  ms: number;
}

function cookieHeader(cookies: Map<string, string>): string {
  return [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
}

function absorb(cookies: Map<string, string>, res: Response): void {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair!.indexOf("=");
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === "") cookies.delete(name);
    else cookies.set(name, value);
  }
}

/**
 * The action's return value in the flight payload: row 0 names it (`"a":"$@1"` is row 1); a page
 * re-rendered by revalidatePath adds rows after it, so the row is looked up, not taken last.
 */
function actionResult(text: string): unknown {
  const rows = new Map<string, string>();
  for (const row of text.split("\n")) {
    const colon = row.indexOf(":");
    if (colon > 0 && /^[0-9a-f]+$/.test(row.slice(0, colon))) rows.set(row.slice(0, colon), row.slice(colon + 1));
  }
  const parse = (raw: string | undefined): unknown => {
    try {
      return raw === undefined ? null : (JSON.parse(raw) as unknown);
    } catch {
      return null;
    }
  };
  const head = parse(rows.get("0")) as { a?: unknown } | null;
  const ref = typeof head?.a === "string" ? /^\$@([0-9a-f]+)$/.exec(head.a)?.[1] : undefined;
  return ref ? parse(rows.get(ref)) : null;
}

export class HttpActor {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly label: string,
    readonly email: string | null = null,
  ) {}

  async request(pathOrUrl: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("cookie", cookieHeader(this.cookies));
    const res = await fetch(pathOrUrl.startsWith("http") ? pathOrUrl : webUrl(pathOrUrl), { ...init, headers, redirect: "manual" });
    absorb(this.cookies, res);
    return res;
  }

  /** next-auth's credentials sign-in over plain HTTP (csrf cookie + token, then the callback). */
  async signIn(password: string): Promise<void> {
    if (!this.email) throw new Error(`${this.label} has no e-mail`);
    this.cookies.clear();
    const csrf = (await (await this.request("/api/auth/csrf")).json()) as { csrfToken: string };
    const res = await this.request("/api/auth/callback/credentials", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrfToken: csrf.csrfToken, email: this.email, password, json: "true", callbackUrl: webUrl("/") }),
    });
    await res.arrayBuffer();
    if (![...this.cookies.keys()].some((k) => k.includes("session-token"))) throw new Error(`${this.label}: sign-in over HTTP set no session cookie (status ${res.status})`);
  }

  async signedIn(): Promise<boolean> {
    const res = await this.request("/api/auth/session");
    const body = (await res.json().catch(() => null)) as { user?: unknown } | null;
    return !!body?.user;
  }

  async callAction(actionId: string, page: string, args: unknown[] | string): Promise<ActionReply> {
    const started = Date.now();
    const res = await this.request(page, {
      method: "POST",
      headers: {
        "next-action": actionId,
        "content-type": "text/plain;charset=UTF-8",
        accept: "text/x-component",
        origin: webUrl(""),
      },
      body: typeof args === "string" ? args : JSON.stringify(args),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    return { status: res.status, text, result: actionResult(text), ms: Date.now() - started };
  }
}
