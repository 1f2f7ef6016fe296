import type { Command } from "commander";
import { addLinkDatabase, findTeam, listLinkDatabases, removeLinkDatabase, updateLinkDatabase } from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { findConnection, findLink } from "./resolve.js";
import { readScope } from "./scope-file.js";

type Options = OutputOptions & { team: string };

async function scopeParser() {
  const { parseScope } = await import("@portcullis/policy");
  return parseScope;
}

/**
 * `link database list|add|update|remove LINK`: a link's databases (issue 17). The first is the link's
 * own connection and scope (only renamed here); the others each carry their own scope document.
 * Gateways learn of every change from the tables' NOTIFY triggers.
 */
export function registerLinkDatabaseCommands(link: Command): void {
  const database = link.command("database").description("the databases a link reaches (the tools' database argument)");
  database
    .command("list <link>")
    .description("list the link's databases, its own first")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        const databases = await listLinkDatabases(db(), { teamId: team.id, linkId: row.id });
        emit(options, { databases }, () => databases.map((d) => `${d.name}${d.first ? " (first)" : ""}  ${d.connectionName}`).join("\n"));
      } catch (error) {
        fail(options, error);
      }
    });
  database
    .command("add <link>")
    .description("add a database: one of the team's connections under its own scope")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>", "what the tools' database argument names it")
    .requiredOption("--connection <name|id>")
    .requiredOption("--scope <file>", "scope document (JSON) for this database")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options & { name: string; connection: string; scope: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        const connection = await findConnection(team.id, options.connection);
        const scope = await readScope(options.scope);
        const parseScope = await scopeParser();
        const added = await audited(
          (tx) => addLinkDatabase(tx, { teamId: team.id, linkId: row.id, name: options.name, connectionId: connection.id, scope }, { parseScope }),
          (d) => [{ teamId: team.id, action: "link.database.add", target: { type: "link", id: row.id, name: row.name }, after: { name: d.name, connectionId: d.connectionId, scope: d.scope } }],
        );
        emit(options, { database: added }, () => `added database ${added.name} (${added.connectionName}) to link ${row.name}`);
      } catch (error) {
        fail(options, error);
      }
    });
  database
    .command("update <link>")
    .description("rename a database (the first one too) or replace a further database's scope")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>", "the database to change")
    .option("--rename <new>", "its new name")
    .option("--scope <file>", "a new scope document (further databases only)")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options & { name: string; rename?: string; scope?: string }) => {
      try {
        if (options.rename === undefined && options.scope === undefined) throw new PortcullisError("invalid_input", "nothing to change: give --rename and/or --scope");
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        const scope = options.scope === undefined ? undefined : await readScope(options.scope);
        const parseScope = await scopeParser();
        const updated = await audited(
          (tx) => updateLinkDatabase(tx, { teamId: team.id, linkId: row.id, name: options.name, ...(options.rename !== undefined ? { newName: options.rename } : {}), ...(scope !== undefined ? { scope } : {}), via: "cli" }, { parseScope }),
          (d) => [{ teamId: team.id, action: options.rename !== undefined ? "link.database.rename" : "link.database.update", target: { type: "link", id: row.id, name: row.name }, before: { name: options.name }, after: { name: d.name, connectionId: d.connectionId, scope: d.scope } }],
        );
        emit(options, { database: updated }, () => `updated database ${updated.name} of link ${row.name}`);
      } catch (error) {
        fail(options, error);
      }
    });
  database
    .command("remove <link>")
    .description("remove a further database from the link (the connection stays)")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options & { name: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        await audited(
          (tx) => removeLinkDatabase(tx, { teamId: team.id, linkId: row.id, name: options.name, via: "cli" }),
          () => [{ teamId: team.id, action: "link.database.remove", target: { type: "link", id: row.id, name: row.name }, before: { name: options.name } }],
        );
        emit(options, { removed: options.name }, () => `removed database ${options.name} from link ${row.name}`);
      } catch (error) {
        fail(options, error);
      }
    });
}
