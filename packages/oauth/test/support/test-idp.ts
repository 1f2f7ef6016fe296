import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

/**
 * A small enterprise identity provider the tests run themselves: a JWKS endpoint (fetches counted),
 * RFC 8414 metadata, and an RFC 8693 token-exchange endpoint that turns an "ID token" (here simply
 * `idtoken:<sub>` of a user in its directory) into an ID-JAG signed with ES256. Keys are generated
 * per run; `rotate()` publishes a new key and signs with it from then on.
 */
export interface IdpUser {
  email?: string;
  emailVerified?: boolean;
}

export class TestIdentityProvider {
  url = "";
  jwksFetches = 0;
  readonly users = new Map<string, IdpUser>();
  private server: http.Server | undefined;
  private keys: { kid: string; privateKey: CryptoKey; publicJwk: JWK }[] = [];

  get issuer(): string {
    return this.url;
  }

  get jwksUri(): string {
    return `${this.url}/jwks.json`;
  }

  get publicJwks(): { keys: JWK[] } {
    return { keys: this.keys.map((key) => key.publicJwk) };
  }

  async start(): Promise<this> {
    await this.rotate();
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Adds a new signing key (the old one stays published, as IdPs do during rotation). */
  async rotate(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const kid = `k${this.keys.length + 1}-${randomUUID().slice(0, 8)}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
    this.keys.push({ kid, privateKey, publicJwk });
    return kid;
  }

  /** Signs claims as this IdP would (current key), with header overrides for attack tests. */
  async sign(claims: JWTPayload, header: { typ?: string; kid?: string } = {}): Promise<string> {
    const key = this.keys[this.keys.length - 1]!;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", typ: header.typ ?? "oauth-id-jag+jwt", kid: header.kid ?? key.kid })
      .sign(key.privateKey);
  }

  /** A well-formed ID-JAG for `sub`, valid for five minutes from `now`. */
  async idJag(input: { sub: string; audience: string; resource: string; clientId: string; scope?: string; now?: number }, extra: JWTPayload = {}): Promise<string> {
    const now = input.now ?? Math.floor(Date.now() / 1000);
    const user = this.users.get(input.sub) ?? {};
    return this.sign({
      iss: this.issuer,
      sub: input.sub,
      aud: input.audience,
      resource: input.resource,
      client_id: input.clientId,
      jti: randomUUID(),
      iat: now,
      exp: now + 300,
      ...(input.scope ? { scope: input.scope } : {}),
      ...(user.email ? { email: user.email, email_verified: user.emailVerified ?? false } : {}),
      ...extra,
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "max-age=3600" });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === "/jwks.json") {
      this.jwksFetches++;
      return send(200, this.publicJwks);
    }
    if (url.pathname === "/.well-known/oauth-authorization-server") {
      return send(200, {
        issuer: this.issuer,
        authorization_endpoint: `${this.url}/authorize`,
        token_endpoint: `${this.url}/token`,
        jwks_uri: this.jwksUri,
        response_types_supported: ["code"],
        grant_types_supported: ["urn:ietf:params:oauth:grant-type:token-exchange"],
      });
    }
    if (url.pathname === "/token" && req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:token-exchange" || form.get("requested_token_type") !== "urn:ietf:params:oauth:token-type:id-jag") {
        return send(400, { error: "unsupported_grant_type" });
      }
      const sub = /^idtoken:(.+)$/.exec(form.get("subject_token") ?? "")?.[1];
      if (!sub || !this.users.has(sub)) return send(400, { error: "invalid_grant", error_description: "unknown ID token" });
      const jag = await this.idJag({
        sub,
        audience: form.get("audience") ?? "",
        resource: form.get("resource") ?? "",
        clientId: form.get("client_id") ?? "",
        ...(form.get("scope") ? { scope: form.get("scope")! } : {}),
      });
      return send(200, {
        access_token: jag,
        issued_token_type: "urn:ietf:params:oauth:token-type:id-jag",
        token_type: "N_A",
        expires_in: 300,
        ...(form.get("scope") ? { scope: form.get("scope") } : {}),
      });
    }
    send(404, { error: "not_found" });
  }
}
