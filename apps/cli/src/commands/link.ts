import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { createLink, findTeam } from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import type { Prisma } from "@portcullis/db/client";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { findConnection } from "./resolve.js";

async function readScope(file: string): Promise<Prisma.InputJsonValue> {
  let raw: string;
  try {
    raw = await readFile(file, "utf8");
  } catch {
    throw new PortcullisError("invalid_input", `cannot read scope file ${file}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new PortcullisError("invalid_input", `scope file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const { parseScope } = await import("@portcullis/policy");
  const parsed = parseScope(json);
  if (!parsed.ok) {
    throw new PortcullisError(
      "invalid_input",
      `scope file ${file} is not a valid scope:\n${parsed.errors.map((e) => `  - ${e.path || "(root)"}: ${e.message}`).join("\n")}`,
    );
  }
  return parsed.scope as Prisma.InputJsonValue;
}

export function registerLinkCommands(program: Command): void {
  const link = program.command("link").description("manage MCP links");
  link
    .command("create")
    .description("create an MCP link bound to one connection and one scope document")
    .requiredOption("--team <slug|id>")
    .requiredOption("--connection <name|id>")
    .requiredOption("--name <name>")
    .requiredOption("--scope <file>", "scope document (JSON)")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string; connection: string; name: string; scope: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const connection = await findConnection(team.id, options.connection);
        const scope = await readScope(options.scope);
        const row = await audited(
          (tx) => createLink(tx, { teamId: team.id, connectionId: connection.id, name: options.name, scope }),
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
}
