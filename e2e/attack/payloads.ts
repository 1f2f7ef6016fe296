import { randomUUID } from "node:crypto";
import type { ActionParam, ServerAction } from "../support/dashboard-surface";
import type { VictimWorld } from "../support/victim-world";
import { victimProvider } from "./victim-provider";

/**
 * Hostile arguments for any action, built from its parameter list and from every field name the
 * action sources mention — no per-action list. Ids that reach a Prisma `where` unparsed turn into
 * filters; ids of the victim that are well-typed test the authorization itself.
 */

export const ID_FIELDS = [
  "teamId", "linkId", "connectionId", "userId", "apiKeyId", "keyId", "invitationId", "sessionId",
  "grantId", "clientId", "token", "slug", "id", "jobId", "memberId", "ownerId", "confirmSlug", "providerId",
];

export interface Payload {
  label: string;
  args: unknown[] | string;
}

/** The victim's real value for a field name (what an attacker who learned the ids would send). */
export function victimValue(field: string, w: VictimWorld): unknown {
  const byName: Record<string, unknown> = {
    teamId: w.teamId,
    linkId: w.linkId,
    connectionId: w.connectionId,
    userId: w.ownerId,
    ownerId: w.ownerId,
    memberId: w.ownerId,
    apiKeyId: w.keyId,
    keyId: w.keyId,
    invitationId: w.invitationId,
    sessionId: w.ownerSessionId,
    grantId: w.grantId,
    clientId: w.grantId,
    // An invitation token is a bearer secret by design (whoever holds the link may join): a made-up one.
    token: "made-up-invitation-token",
    slug: w.slug,
    confirmSlug: w.slug,
    id: w.linkId,
    jobId: "1",
    sql: "SELECT marker, note FROM canary UNION ALL SELECT email, 'x' FROM customers",
    role: "owner",
    scope: { access: "admin" },
    status: "disabled",
    name: "pwned",
    email: w.ownerEmail,
    password: "a brand new password 123",
    granted: true,
    expiresInDays: 30,
    auditRetentionDays: 1,
    schema: "public",
    table: "canary",
    column: "marker",
    description: "pwned description",
    tables: ["canary"],
    resetHuman: true,
    // The victim's trusted identity provider (seeded by run-attacks before each action), and a
    // provider that is well-formed apart from its team, so adding one gets past input parsing.
    providerId: victimProvider(w)?.id ?? randomUUID(),
    issuer: victimProvider(w)?.issuer ?? "https://pwned.example.com",
    jwksUri: "https://pwned.example.com/keys",
    jwks: undefined,
    allowedClientIds: ["pwned-client"],
    values: {
      name: "pwned",
      ...targetFields(w.targetUrl),
      sslMode: "disable",
    },
  };
  return field in byName ? byName[field] : "pwned";
}

function targetFields(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432), database: u.pathname.slice(1), username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

const OPERATORS: Array<[string, (field: string, w: VictimWorld, attackerTeamId: string | null) => unknown]> = [
  ["not", () => ({ not: randomUUID() })],
  ["in", (f, w, t) => ({ in: [victimValue(f, w), ...(t ? [t] : [])] })],
  ["contains", () => ({ contains: "" })],
  ["gt", () => ({ gt: "" })],
  ["startsWith", () => ({ startsWith: "" })],
  ["notIn", () => ({ notIn: [randomUUID()] })],
];

function objectArg(fields: string[], w: VictimWorld, idValue: (f: string) => unknown): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f, ID_FIELDS.includes(f) ? idValue(f) : victimValue(f, w)]));
}

function isObjectParam(p: ActionParam): boolean {
  return p.fields.length > 0 || /^\{|input|unknown/.test(p.type) || p.name === "input";
}

/** Every hostile first argument for one action; other parameters keep plausible victim values. */
export function payloadsFor(action: ServerAction, vocabulary: string[], w: VictimWorld, attackerTeamId: string | null): Payload[] {
  const params = action.params.length ? action.params : [{ name: "input", type: "unknown", fields: [] }];
  const first = params[0]!;
  const rest = params.slice(1).map((p) => victimValue(p.name, w));
  const out: Payload[] = [];
  const push = (label: string, arg0: unknown) => out.push({ label, args: [arg0, ...rest] });

  if (isObjectParam(first)) {
    // The action's own fields (every name found in the action sources when they could not be read).
    const fields = first.fields.length ? first.fields : vocabulary;
    const everyId = [...new Set([...fields, ...vocabulary.filter((f) => ID_FIELDS.includes(f))])];
    push("victim ids plus every id field of the sources", objectArg(everyId, w, (f) => victimValue(f, w)));
    push("every id field as {not}", objectArg(everyId, w, () => ({ not: randomUUID() })));
    push("victim ids", objectArg(fields, w, (f) => victimValue(f, w)));
    // Role changes aimed at a peer admin and invitations of admins: the owner's alone.
    if (fields.includes("userId")) push("victim ids, userId of a peer admin", { ...objectArg(fields, w, (f) => victimValue(f, w)), userId: w.peerAdminId });
    if (fields.includes("userId") && fields.includes("role")) push("peer admin demoted to member", { ...objectArg(fields, w, (f) => victimValue(f, w)), userId: w.peerAdminId, role: "member" });
    // A write through another team's link would change its database: the target checksum sees it.
    if (fields.includes("sql")) push("ids as {not}, writing SQL", { ...objectArg(fields, w, () => ({ not: randomUUID() })), sql: "UPDATE canary SET note = 'pwned'" });
    if (fields.includes("role")) push("victim ids, role admin", { ...objectArg(fields, w, (f) => victimValue(f, w)), role: "admin" });
    if (attackerTeamId) push("own teamId + victim ids", { ...objectArg(fields, w, (f) => victimValue(f, w)), teamId: attackerTeamId });
    for (const [op, make] of OPERATORS) push(`ids as {${op}}`, objectArg(fields, w, (f) => make(f, w, attackerTeamId)));
    if (attackerTeamId) push("own teamId + ids as {in}", { ...objectArg(fields, w, (f) => ({ in: [victimValue(f, w)] })), teamId: attackerTeamId });
    push("ids as arrays", objectArg(fields, w, (f) => [victimValue(f, w)]));
    push("ids as numbers", objectArg(fields, w, () => 1));
    push("ids as null", objectArg(fields, w, () => null));
    push("ids as booleans", objectArg(fields, w, () => true));
    push("ids with NUL", objectArg(fields, w, (f) => `${String(victimValue(f, w))}\u0000`));
    push("only non-id fields", Object.fromEntries(fields.filter((f) => !ID_FIELDS.includes(f)).map((f) => [f, victimValue(f, w)])));
    push("empty object", {});
    // JSON.parse keeps "__proto__" as an own key, as a server parsing the wire body would see it.
    push("extra prisma keys", {
      ...(JSON.parse(`{"__proto__": {"teamId": "${w.teamId}", "role": "owner"}}`) as object),
      ...objectArg(fields, w, (f) => victimValue(f, w)),
      where: { teamId: { not: randomUUID() } },
      include: { team: true, user: true },
      select: { secretCiphertext: true, hash: true, passwordHash: true },
      data: { role: "owner" },
      AND: [{}],
      OR: [{ teamId: w.teamId }],
      constructor: { prototype: { isAdmin: true } },
    });
    push("victim team id as a string", w.teamId);
    push("array of the victim object", [objectArg(fields, w, (f) => victimValue(f, w))]);
    push("null", null);
    push("number", 1);
  } else {
    const name = first.name;
    push("victim value", victimValue(name, w));
    for (const [op, make] of OPERATORS) push(`{${op}}`, make(name, w, attackerTeamId));
    push("array", [victimValue(name, w)]);
    push("number", 1);
    push("null", null);
    push("boolean", true);
    push("NUL", `${String(victimValue(name, w))}\u0000`);
    push("huge string", "x".repeat(200_000));
    push("object with ids", { [name]: victimValue(name, w), teamId: w.teamId, userId: w.ownerId });
  }
  // Malformed wire bodies: not a JSON array at all.
  out.push({ label: "body: JSON object", args: JSON.stringify({ 0: { teamId: { not: randomUUID() } } }) });
  out.push({ label: "body: not JSON", args: "{\"teamId\":" });
  return out;
}
