import type { Command } from "commander";
import { Role } from "@portcullis/db/client";
import { addMember, createUser, findTeam } from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";

export function registerUserCommands(program: Command): void {
  program
    .command("user")
    .description("manage users")
    .command("create")
    .description("create a user (password from --password or the PORTCULLIS_PASSWORD variable)")
    .requiredOption("--email <email>")
    .option("--password <password>", "at least 10 characters; prefer PORTCULLIS_PASSWORD to keep it out of shell history")
    .option("--name <name>")
    .option("--team <slug|id>", "also add the user to this team")
    .option("--role <role>", `role in --team: ${Object.values(Role).join(" | ")}`, "member")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { email: string; password?: string; name?: string; team?: string; role: string }) => {
      try {
        const password = options.password ?? process.env.PORTCULLIS_PASSWORD;
        if (!password) throw new PortcullisError("invalid_input", "give a password with --password or PORTCULLIS_PASSWORD");
        const team = options.team ? await findTeam(db(), options.team) : undefined;
        if (team && !(Object.values(Role) as string[]).includes(options.role)) {
          throw new PortcullisError("invalid_input", `unknown role "${options.role}"`);
        }
        // A user belongs to no team's chain until added to one: with --team, both are recorded there.
        const user = await audited(
          async (tx) => {
            const created = await createUser(tx, { email: options.email, password, name: options.name });
            if (team) await addMember(tx, { teamId: team.id, userId: created.id, role: options.role as "member" });
            return created;
          },
          (u) =>
            team
              ? [
                  { teamId: team.id, action: "user.create", target: { type: "user", id: u.id, name: u.email }, after: { email: u.email, name: u.name } },
                  { teamId: team.id, action: "member.add", target: { type: "user", id: u.id, name: u.email }, after: { role: options.role } },
                ]
              : [],
        );
        const { passwordHash: _omit, ...visible } = user;
        emit(options, { user: visible, team: team?.slug ?? null }, () =>
          `created user ${user.email} (${user.id})${team ? `, ${options.role} of ${team.slug}` : ""}`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
}
