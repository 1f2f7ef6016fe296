import type { Scope } from "@portcullis/policy";
import type { TargetConnectionRow } from "@portcullis/db/target";

/** A link as the gateway needs it, with its connection row (secret still sealed). */
export interface LinkRecord {
  id: string;
  teamId: string;
  name: string;
  status: "active" | "disabled";
  scope: Scope;
  connection: TargetConnectionRow;
}

/** Who is calling: resolved once per HTTP request by an authentication strategy. */
export interface Principal {
  kind: "api_key" | "oauth" | "internal";
  teamId: string;
  linkId: string;
  userId: string | null;
  apiKeyId: string | null;
  oauthClientId: string | null;
  /** Rate-limit bucket: the key or grant id. */
  subject: string;
  /** Name the principal's client registered with (OAuth), for audit when the session names none. */
  clientName?: string;
}

/** Everything a tool call needs, carried to the SDK handlers in `authInfo.extra`. */
export interface CallContext {
  requestId: string;
  principal: Principal;
  link: LinkRecord;
  clientName: string | null;
  clientVersion: string | null;
  sourceIp: string | null;
}
