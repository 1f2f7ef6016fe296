import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { PortcullisError } from "@portcullis/db/errors";
import {
  BUILT_IN_TOOL_NAMES,
  createLinkTool,
  deleteLinkTool,
  findTeam,
  linkBuiltInTools,
  listLinkTools,
  SAVED_TOOL_PARAMETER_TYPES,
  setLinkDisabledTools,
  type SavedToolParameterInput,
  type SavedToolParameterType,
} from "@portcullis/db/operations";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { findLink } from "./resolve.js";

type Options = OutputOptions & { team: string };

/** A default typed on the command line, as its parameter's JSON value (the save refuses one that is not). */
function typedDefault(type: SavedToolParameterType, text: string): string | number | boolean {
  if ((type === "integer" || type === "number") && text.trim() !== "" && Number.isFinite(Number(text))) return Number(text);
  if (type === "boolean" && (text === "true" || text === "false")) return text === "true";
  return text;
}

/**
 * `--param name:type[:required|optional|optional=DEFAULT][:description]`, in $1..$n order. The
 * description is the rest of the spec, colons included.
 */
export function parseParamSpec(spec: string): SavedToolParameterInput {
  const [name = "", type = "", flag, ...rest] = spec.split(":");
  if (!(SAVED_TOOL_PARAMETER_TYPES as readonly string[]).includes(type)) {
    throw new PortcullisError("invalid_input", `--param ${spec}: the type is one of ${SAVED_TOOL_PARAMETER_TYPES.join(", ")} (name:type[:required|optional|optional=DEFAULT][:description])`);
  }
  const t = type as SavedToolParameterType;
  let required = true;
  let description = rest.join(":");
  let fallback: string | undefined;
  if (flag === "optional" || flag?.startsWith("optional=")) {
    required = false;
    if (flag.startsWith("optional=")) fallback = flag.slice("optional=".length);
  } else if (flag !== undefined && flag !== "required") {
    // No flag given: the third part starts the description.
    description = [flag, ...rest].join(":");
  }
  return { name, type: t, description, required, ...(fallback !== undefined ? { default: typedDefault(t, fallback) } : {}) };
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `link tool list|add|remove LINK` and `link tools LINK --disable/--enable`: curated tools and built-ins (issue 17). */
export function registerLinkToolCommands(link: Command): void {
  const tool = link.command("tool").description("a link's saved, parameterised tools");
  tool
    .command("list <link>")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        const tools = await listLinkTools(db(), { teamId: team.id, linkId: row.id });
        emit(options, { tools }, () =>
          tools.map((t) => `${t.name}(${t.parameters.map((p) => `${p.name}: ${p.type}${p.required ? "" : "?"}`).join(", ")})${t.databaseName ? ` on ${t.databaseName}` : ""}  ${t.description}`).join("\n") || "no saved tools",
        );
      } catch (error) {
        fail(options, error);
      }
    });
  tool
    .command("add <link>")
    .description("save a tool: checked against its database's scope (refused in the policy's words) before it is stored")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>")
    .requiredOption("--description <text>")
    .requiredOption("--sql-file <file>", "one statement; $1..$n are the --param values, in order")
    .option("--title <text>")
    .option("--param <spec>", "name:type[:required|optional|optional=DEFAULT][:description] (repeat, in $1..$n order)", collect, [])
    .option("--database <name>", "which of the link's databases it runs on (default: the first)")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options & { name: string; description: string; sqlFile: string; title?: string; param: string[]; database?: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        const sql = await readFile(options.sqlFile, "utf8").catch(() => {
          throw new PortcullisError("invalid_input", `cannot read SQL file ${options.sqlFile}`);
        });
        const parameters = options.param.map(parseParamSpec);
        const policy = await import("@portcullis/policy");
        const saved = await audited(
          (tx) =>
            createLinkTool(tx, {
              teamId: team.id,
              linkId: row.id,
              tool: { name: options.name, title: options.title ?? null, description: options.description, sql, parameters, databaseName: options.database ?? null },
            }, { policy }),
          (t) => [{ teamId: team.id, action: "link.tool.create", target: { type: "link", id: row.id, name: row.name }, after: t }],
        );
        emit(options, { tool: saved }, () => `saved tool ${saved.name} on link ${row.name}`);
      } catch (error) {
        fail(options, error);
      }
    });
  tool
    .command("remove <link>")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options & { name: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        const found = await db().linkTool.findFirst({ where: { linkId: row.id, teamId: team.id, name: options.name } });
        if (!found) throw new PortcullisError("not_found", `link ${row.name} has no tool named "${options.name}"`);
        await audited(
          (tx) => deleteLinkTool(tx, { teamId: team.id, linkId: row.id, id: found.id }),
          () => [{ teamId: team.id, action: "link.tool.delete", target: { type: "link", id: row.id, name: row.name }, before: found }],
        );
        emit(options, { removed: found.name }, () => `removed tool ${found.name} from link ${row.name}`);
      } catch (error) {
        fail(options, error);
      }
    });
  link
    .command("tools <link>")
    .description("which built-in tools the link offers: --disable execute_sql,explain_query / --enable …")
    .requiredOption("--team <slug|id>")
    .option("--disable <names>", "comma-separated built-in tools to stop offering")
    .option("--enable <names>", "comma-separated built-in tools to offer again")
    .option("--json", "print JSON")
    .action(async (linkRef: string, options: Options & { disable?: string; enable?: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findLink(team.id, linkRef);
        const split = (v?: string) => (v ?? "").split(",").map((s) => s.trim()).filter(Boolean);
        const off = split(options.disable);
        const on = new Set(split(options.enable));
        const both = off.filter((n) => on.has(n));
        if (both.length) throw new PortcullisError("invalid_input", `${both.join(", ")} is both disabled and enabled`);
        if (off.length || on.size) {
          const next = [...new Set([...row.disabledTools.filter((n) => !on.has(n)), ...off])];
          // A typo must not pass for "done": unknown names are refused in words before anything is stored.
          const unknown = [...off, ...on].filter((n) => !(BUILT_IN_TOOL_NAMES as readonly string[]).includes(n));
          if (unknown.length) throw new PortcullisError("invalid_input", `not a built-in tool: ${unknown.join(", ")} (the built-ins are ${BUILT_IN_TOOL_NAMES.join(", ")})`);
          await audited(
            (tx) => setLinkDisabledTools(tx, { teamId: team.id, linkId: row.id, disabledTools: next }),
            (stored) => [{ teamId: team.id, action: "link.tools.update", target: { type: "link", id: row.id, name: row.name }, before: { disabledTools: row.disabledTools }, after: { disabledTools: stored } }],
          );
        }
        const tools = await linkBuiltInTools(db(), { teamId: team.id, linkId: row.id });
        emit(options, { tools }, () => tools.map((t) => `${t.enabled ? "on " : "off"}  ${t.name}`).join("\n"));
      } catch (error) {
        fail(options, error);
      }
    });
}
