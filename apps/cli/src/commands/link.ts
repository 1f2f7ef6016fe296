import type { Command } from "commander";
import { createLink, findTeam } from "@portcullis/db/operations";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { registerLinkDatabaseCommands } from "./link-database.js";
import { registerLinkReviewCommands } from "./link-review.js";
import { registerLinkToolCommands } from "./link-tool.js";
import { findConnection } from "./resolve.js";
import { readScope } from "./scope-file.js";

export function registerLinkCommands(program: Command): void {
  const link = program.command("link").description("manage MCP links");
  link
    .command("create")
    .description("create an MCP link bound to one connection and one scope document")
    .requiredOption("--team <slug|id>")
    .requiredOption("--connection <name|id>")
    .requiredOption("--name <name>")
    .requiredOption("--scope <file>", "scope document (JSON)")
    .option("--database-name <name>", "what the tools' database argument calls this first database (default: the connection's database)")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string; connection: string; name: string; scope: string; databaseName?: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const connection = await findConnection(team.id, options.connection);
        const scope = await readScope(options.scope);
        const row = await audited(
          (tx) => createLink(tx, { teamId: team.id, connectionId: connection.id, name: options.name, scope, ...(options.databaseName !== undefined ? { databaseName: options.databaseName } : {}) }),
          (l) => [
            { teamId: team.id, action: "link.create", target: { type: "link", id: l.id, name: l.name }, after: { connectionId: l.connectionId, status: l.status, scope: l.scope } },
          ],
        );
        const gateway = (process.env.GATEWAY_PUBLIC_URL ?? "http://localhost:3001").replace(/\/$/, "");
        const url = `${gateway}/mcp/${row.id}`;
        emit(options, { link: row, url }, () => `created link ${row.name} (${row.id})\n  ${url}`);
      } catch (error) {
        fail(options, error);
      }
    });
  link
    .command("list")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const rows = await db().link.findMany({ where: { teamId: team.id }, orderBy: { createdAt: "asc" } });
        emit(options, { links: rows }, () => rows.map((r) => `${r.id}  ${r.name}  ${r.status}`).join("\n") || "no links");
      } catch (error) {
        fail(options, error);
      }
    });
  registerLinkReviewCommands(link);
  registerLinkDatabaseCommands(link);
  registerLinkToolCommands(link);
}
