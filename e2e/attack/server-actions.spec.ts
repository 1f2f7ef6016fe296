import { randomUUID } from "node:crypto";
import { expect, test } from "@playwright/test";
import { readSurface, runDistDir, type Surface } from "../support/dashboard-surface";
import { CANARY_PREFIX, seedVictimWorld, targetChecksum, type ActorKind, type VictimWorld } from "../support/victim-world";
import { diffSnapshots, judge, protectedIds, settle, snapshotMetadata } from "../support/tenant-snapshot";
import { attackActions, formatFindings, pageFor } from "./run-attacks";
import { ID_FIELDS } from "./payloads";
import { ensureVictimProvider } from "./victim-provider";

/**
 * Every server action the build contains, attacked over raw HTTP by an outsider, by each lower role
 * of the victim team and signed out, with operator objects, arrays, numbers, null, extra keys and
 * the victim's real ids — judged by what changed in the database and what came back.
 */


let surface: Surface;

test.beforeAll(() => {
  surface = readSurface(runDistDir());
});


/** A victim of its own for each test (global teardown drops its target with the run's databases). */
function world(): Promise<VictimWorld> {
  return seedVictimWorld();
}

/** Every parameter field name the action sources declare, plus the usual id names. */
function vocabulary(): string[] {
  return [...new Set([...ID_FIELDS, ...surface.actions.flatMap((a) => a.params.flatMap((p) => [p.name, ...p.fields]))])];
}

test("the issue's attack: runPlaygroundAction with {not} ids reads nothing of another team", async () => {
  const w = await world();
  const playground = surface.actions.find((a) => a.name === "runPlaygroundAction");
  test.skip(!playground, "no runPlaygroundAction in this build");
  const before = await targetChecksum(w.targetUrl);
  const reply = await w.actors.outsider.callAction(playground!.id, pageFor(playground!, w.outsider.slug, w), [
    { teamId: { not: randomUUID() }, linkId: { not: randomUUID() }, sql: "SELECT marker, note FROM canary" },
  ]);
  // The mechanics work (the action answered, through the outsider's session) ...
  expect(reply.status, reply.text.slice(0, 300)).toBeLessThan(500);
  expect(reply.text.length).toBeGreaterThan(0);
  // ... and the victim's canary, which lives only in the victim's database, did not come back.
  // (The lookup is findFirst over every team: it may land on any victim world of the run, so any canary counts.)
  expect(reply.text, "a victim's canary reached the outsider").not.toContain(CANARY_PREFIX);
  expect(await targetChecksum(w.targetUrl)).toBe(before);
});

test("control: the same calls made by the victim's owner do reach the actions and the judge sees their effect", async () => {
  // Without this, a suite whose calls never reached an action (wrong page, wrong header) would pass.
  const w = await world();
  const playground = surface.actions.find((a) => a.name === "runPlaygroundAction");
  const deleteLink = surface.actions.find((a) => a.name === "deleteLinkAction");
  test.skip(!playground || !deleteLink, "the control needs runPlaygroundAction and deleteLinkAction");
  const read = await w.owner.callAction(playground!.id, pageFor(playground!, w.slug, w), [{ teamId: w.teamId, linkId: w.linkId, sql: "SELECT marker FROM canary" }]);
  expect(read.text, "the owner reads its own canary through the Playground").toContain(w.canary);

  const before = await snapshotMetadata(process.env.DATABASE_URL!);
  const reply = await w.owner.callAction(deleteLink!.id, pageFor(deleteLink!, w.slug, w), [{ teamId: w.teamId, linkId: w.readLinkId }]);
  expect(reply.text).toContain('"ok":true');
  const after = await snapshotMetadata(process.env.DATABASE_URL!);
  // Judged as if the outsider had sent it: the owner's legitimate deletion is exactly what the judge must see.
  const seen = judge(diffSnapshots(before, after), protectedIds(before, { userId: w.outsider.userId, ownTeamIds: [w.outsider.teamId] }), w.outsider.userId);
  expect(seen.some((ch) => ch.table === "links" && ch.kind === "removed" && (ch.before as { id: string }).id === w.readLinkId)).toBe(true);
});

test("the victim's identity provider: refused to an outsider under either team, removed by its owner with what hangs off it", async () => {
  const w = await world();
  const remove = surface.actions.find((a) => a.name === "removeIdentityProviderAction");
  const add = surface.actions.find((a) => a.name === "addIdentityProviderAction");
  test.skip(!remove || !add, "no identity provider actions in this build");
  const provider = await ensureVictimProvider(w);
  const metaUrl = process.env.DATABASE_URL!;
  const outsiderPage = pageFor(remove!, w.outsider.slug, w);

  // Audit events of the test before (the owner's link deletion) still arrive through the worker: wait
  // them out, or the judge would see them as this attack's doing.
  await settle(metaUrl);
  const before = await snapshotMetadata(metaUrl);
  const underTheirs = await w.actors.outsider.callAction(remove!.id, outsiderPage, [{ teamId: w.outsider.teamId, providerId: provider.id }]);
  const underOurs = await w.actors.outsider.callAction(remove!.id, outsiderPage, [{ teamId: w.teamId, providerId: provider.id }]);
  for (const reply of [underTheirs, underOurs]) {
    expect(reply.result, reply.text.slice(0, 300)).toMatchObject({ ok: false, code: "not_found" });
    expect(reply.text).not.toContain(provider.name);
  }
  // Adding to the victim's team, and to their own a provider with the victim's issuer (each team
  // trusts issuers for its own links): the first is refused, the second is theirs alone.
  const intoOurs = await w.actors.outsider.callAction(add!.id, pageFor(add!, w.outsider.slug, w), [
    { teamId: w.teamId, name: "pwned", issuer: "https://pwned.example.com", jwksUri: "https://pwned.example.com/keys", allowedClientIds: ["pwned"] },
  ]);
  expect(intoOurs.result, intoOurs.text.slice(0, 300)).toMatchObject({ ok: false, code: "not_found" });
  const sameIssuer = await w.actors.outsider.callAction(add!.id, pageFor(add!, w.outsider.slug, w), [
    { teamId: w.outsider.teamId, name: "mine", issuer: provider.issuer, jwksUri: `${provider.issuer}/keys`, allowedClientIds: ["victim-client"] },
  ]);
  expect(sameIssuer.result, sameIssuer.text.slice(0, 300)).toMatchObject({ ok: true });
  const ids = protectedIds(before, { userId: w.outsider.userId, ownTeamIds: [w.outsider.teamId] });
  expect(judge(diffSnapshots(before, await snapshotMetadata(metaUrl)), ids, w.outsider.userId)).toEqual([]);

  // Control: the owner's removal answers ok, and the judge sees the provider, its linked identity and
  // the grant issued through it go (so the refusals above were not a harness that reaches nothing).
  const mid = await snapshotMetadata(metaUrl);
  const own = await w.owner.callAction(remove!.id, pageFor(remove!, w.slug, w), [{ teamId: w.teamId, providerId: provider.id }]);
  expect(own.result, own.text.slice(0, 300)).toMatchObject({ ok: true, data: { id: provider.id, revokedGrants: 1 } });
  const seen = judge(diffSnapshots(mid, await snapshotMetadata(metaUrl)), protectedIds(mid, { userId: w.outsider.userId, ownTeamIds: [w.outsider.teamId] }), w.outsider.userId);
  expect(seen.some((ch) => ch.table === "trusted_identity_providers" && ch.kind === "removed" && (ch.before as { id: string }).id === provider.id)).toBe(true);
  expect(seen.some((ch) => ch.table === "enterprise_identities" && ch.kind === "removed")).toBe(true);
  expect(seen.some((ch) => ch.table === "oauth_grants" && (ch.before as { id: string }).id === w.grantId && ch.changedColumns?.includes("revoked_at"))).toBe(true);
});

const ACTORS: Array<{ kind: ActorKind; only?: (name: string) => boolean }> = [
  { kind: "outsider" },
  { kind: "signed-out" },
  { kind: "viewer" },
  { kind: "member" },
  // Admins manage the team; what is the owner's alone (the team itself, the owner's membership) is judged.
  { kind: "admin" },
];

for (const actor of ACTORS) {
  test(`every server action, attacked as ${actor.kind}`, async () => {
    test.setTimeout(300_000);
    const w = await world();
    const log: string[] = [];
    const findings = await attackActions({ kind: actor.kind, actions: surface.actions, vocabulary: vocabulary(), world: w, log: (l) => log.push(l) });
    test.info().attach(`${actor.kind}-log`, { body: log.join("\n"), contentType: "text/plain" });
    if (process.env.E2E_ATTACK_VERBOSE) console.log(log.join("\n"));
    if (findings.length) test.info().attach(`${actor.kind}-findings`, { body: formatFindings(findings), contentType: "text/plain" });
    expect(findings, `findings as ${actor.kind}:\n${formatFindings(findings)}`).toEqual([]);
  });
}
