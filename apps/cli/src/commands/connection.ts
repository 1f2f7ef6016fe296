import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { addConnection, findTeam, retestConnection, testConnectionFields } from "@portcullis/db/operations";
import { PortcullisError } from "@portcullis/db/errors";
import { parseTargetUrl } from "@portcullis/db/target";
import type { SslMode } from "@portcullis/db/client";
import { audited } from "../audited.js";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";
import { findConnection } from "./resolve.js";

const SSL_MODES = ["disable", "prefer", "require", "verify_ca", "verify_full"];

interface AddOptions extends OutputOptions {
  team: string;
  name: string;
  url?: string;
  host?: string;
  port: string;
  database?: string;
  user?: string;
  password?: string;
  sslMode?: string;
  caFile?: string;
  test: boolean;
  sampleValues?: boolean;
}

/** What a connection looks like outside the database: never the secret, sealed or not. */
function publicConnection(row: { secretCiphertext: string; secretKeyId: string } & Record<string, unknown>) {
  const { secretCiphertext: _secret, secretKeyId: _keyId, sslCaCert, ...rest } = row;
  return { ...rest, hasCaCert: Boolean(sslCaCert) };
}

export function registerConnectionCommands(program: Command): void {
  const connection = program.command("connection").description("manage target database connections");
  connection
    .command("add")
    .description("add a PostgreSQL connection (tested before it is saved)")
    .requiredOption("--team <slug|id>")
    .requiredOption("--name <name>")
    .option("--url <url>", "postgresql://user:password@host:port/database?sslmode=…")
    .option("--host <host>")
    .option("--port <port>", "port", "5432")
    .option("--database <database>")
    .option("--user <user>")
    .option("--password <password>", "prefer PORTCULLIS_DB_PASSWORD to keep it out of shell history")
    .option("--ssl-mode <mode>", SSL_MODES.join(" | "))
    .option("--ca-file <path>", "CA certificate (PEM) for verify_ca / verify_full")
    .option("--sample-values", "let AI descriptions see a few sample values of visible columns")
    .option("--no-test", "save without testing (status stays 'untested')")
    .option("--json", "print JSON")
    .action(async (options: AddOptions) => {
      try {
        const team = await findTeam(db(), options.team);
        let fields;
        if (options.url) {
          fields = parseTargetUrl(options.url);
          if (!fields.password) fields.password = options.password ?? process.env.PORTCULLIS_DB_PASSWORD ?? "";
        } else {
          if (!options.host || !options.database || !options.user) {
            throw new PortcullisError("invalid_input", "give --url, or --host, --database and --user");
          }
          const port = Number(options.port);
          if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PortcullisError("invalid_input", `bad port "${options.port}"`);
          fields = {
            host: options.host,
            port,
            database: options.database,
            username: options.user,
            password: options.password ?? process.env.PORTCULLIS_DB_PASSWORD ?? "",
            sslMode: "prefer" as SslMode,
          };
        }
        if (options.sslMode) {
          const mode = options.sslMode.replace("-", "_");
          if (!SSL_MODES.includes(mode)) throw new PortcullisError("invalid_input", `unknown SSL mode "${options.sslMode}"`);
          fields.sslMode = mode as SslMode;
        }
        const sslCaCert = options.caFile ? await readFile(options.caFile, "utf8") : null;
        // Tested before the transaction opens (DNS and a connection to the target take seconds), as the
        // dashboard does; the result is what addConnection stores.
        const tested = options.test === false ? undefined : await testConnectionFields({ ...fields, sslCaCert }, { metadata: db() });
        const row = await audited(
          (tx) =>
            addConnection(tx, {
              teamId: team.id,
              name: options.name,
              fields: { ...fields, sslCaCert },
              test: options.test,
              tested,
              sampleValuesOptIn: options.sampleValues ?? false,
            }),
          (c) => [{ teamId: team.id, action: "connection.create", target: { type: "connection", id: c.id, name: c.name }, after: publicConnection(c) }],
        );
        const test = row.lastTestResult as { serverVersion?: string; latencyMs?: number } | null;
        emit(options, { connection: publicConnection(row) }, () =>
          `added connection ${row.name} (${row.id})${test ? `: PostgreSQL ${test.serverVersion}, ${test.latencyMs} ms` : " (not tested)"}`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
  connection
    .command("test")
    .description("re-test a stored connection")
    .requiredOption("--team <slug|id>")
    .argument("<connection>", "name or id")
    .option("--json", "print JSON")
    .action(async (name: string, options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const row = await findConnection(team.id, name);
        const result = await retestConnection(db(), row.id);
        emit(options, { result }, () =>
          result.ok ? `ok: PostgreSQL ${result.serverVersion}, ${result.latencyMs} ms` : `failed: ${result.error}`,
        );
        if (!result.ok) process.exitCode = 1;
      } catch (error) {
        fail(options, error);
      }
    });
  connection
    .command("list")
    .requiredOption("--team <slug|id>")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions & { team: string }) => {
      try {
        const team = await findTeam(db(), options.team);
        const rows = await db().connection.findMany({ where: { teamId: team.id }, orderBy: { createdAt: "asc" } });
        emit(options, { connections: rows.map(publicConnection) }, () =>
          rows.map((r) => `${r.id}  ${r.name}  ${r.username}@${r.host}:${r.port}/${r.database}  ${r.status}`).join("\n") || "no connections",
        );
      } catch (error) {
        fail(options, error);
      }
    });
}
