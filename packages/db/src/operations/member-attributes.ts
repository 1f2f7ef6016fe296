import { z } from "zod";
import { recordConfigChange } from "../audit/config-change.js";
import type { PrismaClient, Prisma } from "../client.js";
import { PortcullisError } from "../errors.js";

/**
 * Attributes an admin sets for one member on one link: a row filter's `{{member.attr.NAME}}` binds the
 * value at call time. The rows go with the member's use of the link (triggers of migration
 * 20261207100000) and every change is announced to gateways on the access channel by PostgreSQL itself,
 * so these operations publish nothing. Who may call them (team admins) is the caller's check, as for
 * the other operations; the team comes from the caller's context and every id is looked up within it.
 */

/** Equal to MEMBER_ATTRIBUTE_NAME of @portcullis/policy/scope (db does not depend on policy; a gateway test compares them). */
export const MEMBER_ATTRIBUTE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
export const MEMBER_ATTRIBUTE_VALUE_MAX_BYTES = 1024;
/** Per member and link: a filter needs a handful; a bound keeps one principal's cache entry small. */
export const MEMBER_ATTRIBUTES_MAX = 50;

const uuid = z.string().uuid();
const NAME_RULE = "attribute names are lower-case letters, digits and _, starting with a letter, at most 63 characters";
export const memberAttributeNameSchema = z.string().regex(MEMBER_ATTRIBUTE_NAME, NAME_RULE);
export const memberAttributeValueSchema = z
  .string()
  .refine((v) => !v.includes("\u0000"), "attribute values cannot contain NUL characters")
  .refine((v) => Buffer.byteLength(v, "utf8") <= MEMBER_ATTRIBUTE_VALUE_MAX_BYTES, `attribute values are at most ${MEMBER_ATTRIBUTE_VALUE_MAX_BYTES} bytes`)
  .refine((v) => (v as unknown as { isWellFormed(): boolean }).isWellFormed(), "attribute values must be well-formed text");

export const listMemberAttributesInput = z.strictObject({ linkId: uuid, userId: uuid.optional() });
export const setMemberAttributesInput = z.strictObject({
  linkId: uuid,
  userId: uuid,
  values: z
    .record(z.string(), memberAttributeValueSchema)
    // Checked here rather than as the record's key schema, whose message names no rule.
    .superRefine((values, ctx) => {
      for (const name of Object.keys(values)) if (!MEMBER_ATTRIBUTE_NAME.test(name)) ctx.addIssue({ code: "custom", path: [name], message: NAME_RULE });
    })
    .refine((v) => Object.keys(v).length > 0, "give at least one NAME=VALUE")
    .refine((v) => Object.keys(v).length <= MEMBER_ATTRIBUTES_MAX, `at most ${MEMBER_ATTRIBUTES_MAX} attributes per member and link`),
});
export const unsetMemberAttributesInput = z.strictObject({
  linkId: uuid,
  userId: uuid,
  names: z.array(memberAttributeNameSchema).min(1, "name at least one attribute").max(MEMBER_ATTRIBUTES_MAX),
});

/** Who is changing attributes: the team is the caller's (dashboard session, CLI --team or the link's). */
export interface MemberAttributeActor {
  teamId: string;
  actorUserId: string | null;
  sourceIp?: string | null;
  via?: "dashboard" | "cli" | "api";
}

export interface MemberAttributes {
  userId: string;
  email: string;
  attributes: Record<string, string>;
}

type Tx = Prisma.TransactionClient;

function parse<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("; ");
  throw new PortcullisError("invalid_input", message);
}

async function teamLink(tx: Tx, teamId: string, linkId: string) {
  const link = await tx.link.findFirst({ where: { id: linkId, teamId }, select: { id: true, name: true } });
  if (!link) throw new PortcullisError("not_found", "link not found");
  return link;
}

/**
 * The member's right to use the link, locked (FOR SHARE) until the change commits: a grant withdrawn
 * or a membership removed at the same moment waits for us, and its trigger then drops what we wrote —
 * never attributes left behind for someone without access.
 */
async function lockAccess(tx: Tx, teamId: string, linkId: string, userId: string): Promise<{ email: string }> {
  const rows = await tx.$queryRaw<{ role: string; email: string; granted: boolean }[]>`
    SELECT m.role::text AS role, u.email,
      EXISTS (SELECT 1 FROM link_access a WHERE a.link_id = ${linkId}::uuid AND a.user_id = m.user_id) AS granted
    FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.team_id = ${teamId}::uuid AND m.user_id = ${userId}::uuid
    FOR SHARE OF m`;
  const member = rows[0];
  if (!member) throw new PortcullisError("not_found", "that user is not a member of this team");
  // Only the roles that use links have attributes on one (viewers and auditors never do).
  if (member.role !== "owner" && member.role !== "admin" && member.role !== "member") throw new PortcullisError("forbidden", `${member.role}s use no link; change their role before setting attributes`);
  if (member.role === "member") {
    const granted = await tx.$queryRaw<unknown[]>`
      SELECT 1 FROM link_access WHERE link_id = ${linkId}::uuid AND user_id = ${userId}::uuid FOR SHARE`;
    if (!granted.length) throw new PortcullisError("forbidden", "this member has not been granted access to the link; grant it first");
  }
  return { email: member.email };
}

async function current(tx: Tx, linkId: string, userId: string): Promise<Record<string, string>> {
  const rows = await tx.linkMemberAttribute.findMany({ where: { linkId, userId }, orderBy: { name: "asc" } });
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

/** Every member's attributes on a link (or one member's), by email. */
export async function listMemberAttributes(prisma: PrismaClient, actor: MemberAttributeActor, input: unknown): Promise<MemberAttributes[]> {
  const { linkId, userId } = parse(listMemberAttributesInput, input);
  await teamLink(prisma as unknown as Tx, actor.teamId, linkId);
  const rows = await prisma.linkMemberAttribute.findMany({
    where: { linkId, ...(userId ? { userId } : {}) },
    include: { user: { select: { email: true } } },
    orderBy: [{ userId: "asc" }, { name: "asc" }],
  });
  const byUser = new Map<string, MemberAttributes>();
  for (const r of rows) {
    const entry = byUser.get(r.userId) ?? { userId: r.userId, email: r.user.email, attributes: {} };
    entry.attributes[r.name] = r.value;
    byUser.set(r.userId, entry);
  }
  return [...byUser.values()].sort((a, b) => a.email.localeCompare(b.email));
}

/** Sets (adds or replaces) attributes; one audited change. Returns the member's attributes after it. */
export async function setMemberAttributes(prisma: PrismaClient, actor: MemberAttributeActor, input: unknown): Promise<MemberAttributes> {
  const { linkId, userId, values } = parse(setMemberAttributesInput, input);
  return prisma.$transaction(async (tx) => {
    const link = await teamLink(tx, actor.teamId, linkId);
    const { email } = await lockAccess(tx, actor.teamId, linkId, userId);
    const before = await current(tx, linkId, userId);
    const after = { ...before, ...values };
    if (Object.keys(after).length > MEMBER_ATTRIBUTES_MAX) throw new PortcullisError("invalid_input", `at most ${MEMBER_ATTRIBUTES_MAX} attributes per member and link`);
    const now = new Date();
    for (const [name, value] of Object.entries(values)) {
      await tx.linkMemberAttribute.upsert({
        where: { linkId_userId_name: { linkId, userId, name } },
        create: { linkId, userId, name, value, updatedAt: now, updatedBy: actor.actorUserId },
        update: { value, updatedAt: now, updatedBy: actor.actorUserId },
      });
    }
    await recordConfigChange(tx, {
      teamId: actor.teamId,
      actorUserId: actor.actorUserId,
      action: "link.member_attribute.set",
      target: { type: "link", id: link.id, name: link.name },
      before: { userId, email, attributes: pick(before, Object.keys(values)) },
      after: { userId, email, attributes: values },
      sourceIp: actor.sourceIp,
      ...(actor.via ? { via: actor.via } : {}),
    });
    return { userId, email, attributes: sortKeys(after) };
  });
}

/** Removes attributes (names not set are ignored); audited when anything was removed. */
export async function unsetMemberAttributes(
  prisma: PrismaClient,
  actor: MemberAttributeActor,
  input: unknown,
): Promise<MemberAttributes & { removed: string[] }> {
  const { linkId, userId, names } = parse(unsetMemberAttributesInput, input);
  return prisma.$transaction(async (tx) => {
    const link = await teamLink(tx, actor.teamId, linkId);
    const user = await tx.membership.findUnique({ where: { teamId_userId: { teamId: actor.teamId, userId } }, include: { user: { select: { email: true } } } });
    if (!user) throw new PortcullisError("not_found", "that user is not a member of this team");
    const before = await current(tx, linkId, userId);
    const removed = names.filter((n) => Object.hasOwn(before, n));
    if (removed.length) {
      await tx.linkMemberAttribute.deleteMany({ where: { linkId, userId, name: { in: removed } } });
      await recordConfigChange(tx, {
        teamId: actor.teamId,
        actorUserId: actor.actorUserId,
        action: "link.member_attribute.unset",
        target: { type: "link", id: link.id, name: link.name },
        before: { userId, email: user.user.email, attributes: pick(before, removed) },
        after: { userId, email: user.user.email, attributes: {} },
        sourceIp: actor.sourceIp,
        ...(actor.via ? { via: actor.via } : {}),
      });
    }
    const after = Object.fromEntries(Object.entries(before).filter(([n]) => !removed.includes(n)));
    return { userId, email: user.user.email, attributes: after, removed };
  });
}

function pick(values: Record<string, string>, names: string[]): Record<string, string | null> {
  return Object.fromEntries(names.map((n) => [n, Object.hasOwn(values, n) ? values[n]! : null]));
}

function sortKeys(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).sort(([a], [b]) => a.localeCompare(b)));
}
