import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@portcullis/db/testing";
import { createPolicyDatabase } from "./support/chinook.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await createPolicyDatabase());
});
afterAll(() => db?.drop());

function runCli(args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // The same entry `pnpm policy` runs (root package.json: tsx packages/policy/src/cli/main.ts).
    const child = spawn(process.execPath, ["--import", "tsx", "packages/policy/src/cli/main.ts", ...args], { cwd: root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe("pnpm policy check", () => {
  it("checks JSON lines against a real database and keeps going past a malformed line", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "policy-cli-"));
    const scopeFile = path.join(dir, "scope.json");
    writeFileSync(scopeFile, JSON.stringify({ access: "read", tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email"] } } }));
    const input = [
      { id: 1, sql: "SELECT title FROM album LIMIT 1" },
      "this is not json",
      { id: "three", sql: "SELECT email FROM customer" },
      { id: 4, sql: "SELECT * FROM employee" },
      { id: 5 },
      { id: 6, sql: "DELETE FROM album" },
    ]
      .map((l) => (typeof l === "string" ? l : JSON.stringify(l)))
      .join("\n");
    const { code, stdout, stderr } = await runCli(["check", "--scope", scopeFile, "--database-url", db.url], `${input}\n`);
    expect(code, stderr).toBe(0);
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(6);
    expect(lines[0]).toEqual({ id: 1, verdict: "allow", rule: null, reason: null });
    expect(lines[1]).toMatchObject({ id: null, error: expect.stringMatching(/invalid JSON/) });
    expect(lines[2]).toMatchObject({ id: "three", verdict: "block", rule: "undefined_column" });
    expect(lines[3]).toMatchObject({ id: 4, verdict: "block", rule: "undefined_table", reason: expect.stringContaining('relation "employee" does not exist') });
    expect(lines[4]).toMatchObject({ id: 5, error: expect.stringMatching(/"sql"/) });
    expect(lines[5]).toMatchObject({ id: 6, verdict: "block", rule: "write_not_permitted" });
  }, 60_000);

  it("prints the rewritten statement and its bound values, with --member-attr bound and names only listed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "policy-cli-"));
    const scopeFile = path.join(dir, "scope.json");
    writeFileSync(
      scopeFile,
      JSON.stringify({ access: "read", tables: { customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email" } } } }),
    );
    const input = [
      { id: 1, sql: "SELECT customer_id, email FROM customer WHERE country = $1" },
      { id: 2, sql: "SELECT title FROM album LIMIT 1" },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n");
    const args = ["check", "--scope", scopeFile, "--database-url", db.url];
    const { code, stdout, stderr } = await runCli([...args, "--member-attr", "rep_id=3", "--member-attr", "region=emea"], `${input}\n`);
    expect(code, stderr).toBe(0);
    const [governed, plain] = stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(plain).toEqual({ id: 2, verdict: "allow", rule: null, reason: null });
    const rewritten = governed!.rewritten as { sql: string; params: unknown[]; firstParam: number; attributes: string[] };
    expect(governed).toMatchObject({ id: 1, verdict: "allow" });
    expect(rewritten.firstParam).toBe(2);
    expect(rewritten.sql).toMatch(/support_rep_id/);
    expect(rewritten.sql).toMatch(/\$2/);
    expect(rewritten.sql).not.toMatch(/'3'/);
    expect(rewritten.params).toContain("3");
    expect(rewritten.attributes).toEqual(["rep_id"]);
    // Without the attribute: null bound (the filter then matches no row).
    const bare = await runCli(args, `${input}\n`);
    expect((JSON.parse(bare.stdout.split("\n")[0]!) as { rewritten: { params: unknown[] } }).rewritten.params).not.toContain("3");
    const bad = await runCli([...args, "--member-attr", "Rep=3"], "");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--member-attr takes NAME=VALUE/);
  }, 60_000);

  it("refuses a bad scope file with its precise errors", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "policy-cli-"));
    const scopeFile = path.join(dir, "scope.json");
    writeFileSync(scopeFile, JSON.stringify({ access: "owner" }));
    const { code, stderr } = await runCli(["check", "--scope", scopeFile, "--database-url", db.url], "");
    expect(code).toBe(2);
    expect(stderr).toMatch(/scope access: unknown access level "owner"/);
  }, 60_000);
});
