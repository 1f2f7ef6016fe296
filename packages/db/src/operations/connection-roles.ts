import pg from "pg";
import { z } from "zod";
import { PortcullisError } from "../errors.js";
import { targetPolicyFromEnv, type TargetPolicy } from "../target.js";

/** What the target role may do beyond its own database. */
export interface RolePrivileges {
  role: string;
  superuser: boolean;
  createRole: boolean;
  bypassRls: boolean;
  replication: boolean;
  /** Memberships (direct or inherited) in the roles that reach the server's programs and files. */
  serverRoles: string[];
  checkedAt: string;
}

/**
 * Why a role is refused, in words, with the least-privilege role to create instead. `undefined` when
 * the role reaches nothing beyond its database. CREATEROLE counts: up to PostgreSQL 15 such a role
 * can grant itself pg_execute_server_program. BYPASSRLS and REPLICATION do not: they reach no
 * program or file, and scopes do not rely on row-level security.
 */
export function explainPowerfulRole(facts: Pick<RolePrivileges, "role" | "superuser" | "createRole" | "serverRoles">, database?: string): string | undefined {
  const why: string[] = [];
  // A superuser is a member of every role: the one reason says it all.
  if (facts.superuser) why.push("is a superuser (it can run programs on the database server with COPY ... TO PROGRAM, read its files and every database)");
  if (facts.createRole && !facts.superuser) why.push("has CREATEROLE (it can grant itself roles that run programs on the database server)");
  if (!facts.superuser) for (const r of facts.serverRoles)
    why.push(r === "pg_execute_server_program" ? "is a member of pg_execute_server_program (it can run programs on the database server)" : `is a member of ${r} (it can ${r === "pg_read_server_files" ? "read" : "write"} files on the database server)`);
  if (why.length === 0) return undefined;
  const role = "portcullis_reader";
  const db = database ? pg.escapeIdentifier(database) : "your_database";
  return (
    `the role "${facts.role}" ${why.join(", and ")}. ` +
    `Create a least-privilege role for Portcullis instead: CREATE ROLE ${role} LOGIN PASSWORD '...' NOSUPERUSER NOCREATEROLE NOCREATEDB; ` +
    `GRANT CONNECT ON DATABASE ${db} TO ${role}; GRANT USAGE ON SCHEMA public TO ${role}; ` +
    `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}; (add INSERT, UPDATE, DELETE on the tables links may write)`
  );
}

/** The subset of a scope document this check reads (packages/policy's Scope fits it). */
export interface ScopeAccessLevels {
  access?: string;
  tables?: Record<string, { access?: string } | undefined>;
}

/**
 * Link creation and scope changes call this: a connection whose role reaches the server's programs
 * or files (allowed only by TARGET_ALLOW_POWERFUL_ROLES) never gets an admin link, and is refused
 * outright when the operator no longer allows such roles. Facts come from the last connection test.
 */
export function assertScopeAllowedForConnection(
  connection: { rolePrivileges: unknown; database?: string },
  scope: ScopeAccessLevels,
  policy: Pick<TargetPolicy, "allowPowerfulRoles"> = targetPolicyFromEnv(),
): void {
  const facts = rolePrivilegesSchema.safeParse(connection.rolePrivileges);
  if (!facts.success) return;
  const powerful = explainPowerfulRole(facts.data, connection.database);
  if (!powerful) return;
  if (!policy.allowPowerfulRoles) throw new PortcullisError("forbidden", `links on this connection are refused: ${powerful}`);
  const admin = scope.access === "admin" || Object.values(scope.tables ?? {}).some((t) => t?.access === "admin");
  if (admin)
    throw new PortcullisError(
      "forbidden",
      `admin access is refused on this connection: ${powerful} (the operator allows such roles for read and write links only)`,
    );
}

const rolePrivilegesSchema = z.object({
  role: z.string(),
  superuser: z.boolean(),
  createRole: z.boolean(),
  bypassRls: z.boolean().default(false),
  replication: z.boolean().default(false),
  serverRoles: z.array(z.string()),
  checkedAt: z.string().optional(),
});
