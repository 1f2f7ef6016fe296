import type { Command } from "commander";
import { z } from "zod";
import { PortcullisError } from "@portcullis/db/errors";
import {
  findTeam,
  findUserByEmail,
  isUuid,
  listMemberAttributes,
  memberAttributeNameSchema,
  setMemberAttributes,
  unsetMemberAttributes,
  type MemberAttributes,
} from "@portcullis/db/operations";
import { db } from "../context.js";
import { printable } from "./audit.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { findLink } from "./resolve.js";

/**
 * `portcullis member attr set|unset|list`: the attributes a row filter binds as {{member.attr.NAME}}.
 * The link is named by id (its team follows) or, with --team, by name. Every change is one audited
 * transaction; gateways learn of it from PostgreSQL's notification on commit (nothing to publish).
 */

const assignment = z
  .string()
  .regex(/^[^=]+=/, "expected NAME=VALUE")
  .transform((s) => [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)] as const);

interface LinkOptions extends OutputOptions {
  link: string;
  team?: string;
}

async function resolveLink(options: LinkOptions) {
  if (options.team) {
    const team = await findTeam(db(), options.team);
    return findLink(team.id, options.link);
  }
  if (!isUuid(options.link)) throw new PortcullisError("invalid_input", "--link takes the link's id (or add --team to name it)");
  const link = await db().link.findUnique({ where: { id: options.link } });
  if (!link) throw new PortcullisError("not_found", `no link "${options.link}"`);
  return link;
}

function human(m: MemberAttributes): string {
  const pairs = Object.entries(m.attributes).map(([k, v]) => `${k}=${printable(v)}`);
  return `${printable(m.email)}  ${pairs.length ? pairs.join("  ") : "(no attributes)"}`;
}

function parseAssignments(pairs: string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of pairs) {
    const parsed = assignment.safeParse(pair);
    if (!parsed.success) throw new PortcullisError("invalid_input", `"${printable(pair)}": expected NAME=VALUE`);
    const [name, value] = parsed.data;
    if (Object.hasOwn(values, name)) throw new PortcullisError("invalid_input", `${printable(name)} is given twice`);
    values[name] = value;
  }
  return values;
}

export function registerMemberCommands(program: Command): void {
  const member = program.command("member").description("manage members' per-link settings");
  const attr = member.command("attr").description("member attributes row filters bind ({{member.attr.NAME}})");
  attr
    .command("set")
    .description("set attributes of a member on a link (NAME=VALUE …)")
    .requiredOption("--link <id>", "link id (or name with --team)")
    .option("--team <slug|id>", "the link's team, to name the link by name")
    .requiredOption("--user <email>", "the member")
    .argument("<assignments...>", "NAME=VALUE pairs")
    .option("--json", "print JSON")
    .action(async (pairs: string[], options: LinkOptions & { user: string }) => {
      try {
        const values = parseAssignments(pairs);
        const link = await resolveLink(options);
        const user = await findUserByEmail(db(), options.user);
        const result = await setMemberAttributes(db(), { teamId: link.teamId, actorUserId: null, via: "cli" }, { linkId: link.id, userId: user.id, values });
        emit(options, { linkId: link.id, member: result }, () => `${printable(link.name)}: ${human(result)}`);
      } catch (error) {
        fail(options, error);
      }
    });
  attr
    .command("unset")
    .description("remove attributes of a member on a link")
    .requiredOption("--link <id>", "link id (or name with --team)")
    .option("--team <slug|id>", "the link's team, to name the link by name")
    .requiredOption("--user <email>", "the member")
    .argument("<names...>", "attribute names")
    .option("--json", "print JSON")
    .action(async (names: string[], options: LinkOptions & { user: string }) => {
      try {
        for (const name of names) {
          if (!memberAttributeNameSchema.safeParse(name).success) throw new PortcullisError("invalid_input", `"${printable(name)}" is not an attribute name (lower-case letters, digits and _, starting with a letter)`);
        }
        const link = await resolveLink(options);
        const user = await findUserByEmail(db(), options.user);
        const result = await unsetMemberAttributes(db(), { teamId: link.teamId, actorUserId: null, via: "cli" }, { linkId: link.id, userId: user.id, names });
        emit(options, { linkId: link.id, member: result, removed: result.removed }, () =>
          `${printable(link.name)}: removed ${result.removed.length ? result.removed.join(", ") : "nothing"}; ${human(result)}`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
  attr
    .command("list")
    .description("list members' attributes on a link")
    .requiredOption("--link <id>", "link id (or name with --team)")
    .option("--team <slug|id>", "the link's team, to name the link by name")
    .option("--user <email>", "only this member")
    .option("--json", "print JSON")
    .action(async (options: LinkOptions & { user?: string }) => {
      try {
        const link = await resolveLink(options);
        const user = options.user ? await findUserByEmail(db(), options.user) : undefined;
        const members = await listMemberAttributes(db(), { teamId: link.teamId, actorUserId: null }, { linkId: link.id, ...(user ? { userId: user.id } : {}) });
        emit(options, { linkId: link.id, members }, () => members.map(human).join("\n") || "no attributes");
      } catch (error) {
        fail(options, error);
      }
    });
}
