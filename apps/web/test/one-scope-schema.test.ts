import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";

/**
 * The scope document has one schema (packages/policy/src/scope/schema.ts). A second declaration
 * drifts: the worker's own lenient rule once let a scope the gateway refused share samples, and the
 * editor's literal access list would silently miss a new level. Everything else imports it from
 * `@portcullis/policy/scope`; this scan fails on a re-declaration anywhere else.
 */
const ROOT = join(__dirname, "../../..");
const SCANNED = ["apps/web/src", "apps/worker/src", "apps/gateway/src", "apps/cli/src", "packages/db/src", "packages/jobs/src", "packages/oauth/src", "packages/policy/src"];
const OWNER = "packages/policy/src/scope/";

const REDECLARATIONS: { what: string; pattern: RegExp }[] = [
  { what: "a zod field hiddenColumns", pattern: /hiddenColumns\s*:\s*z\s*\./ },
  // The scope's shapes (a record of masks, the filter's text); get_permissions' output lists are other types.
  { what: "a zod field maskedColumns", pattern: /maskedColumns\s*:\s*z\s*\.\s*record/ },
  { what: "a zod field rowFilter", pattern: /rowFilter\s*:\s*z\s*\.\s*(string|unknown)/ },
  { what: "the access levels as a list or union", pattern: /["']none["']\s*[,|]\s*["']read["']\s*[,|]\s*["']write["']\s*[,|]\s*["']admin["']/ },
  // Subsets such as ["read", "write", "admin"] (what a visible relation may carry) are other types.
  { what: "a zod access enum", pattern: /z\s*\.\s*enum\(\s*\[\s*["']none["']\s*,\s*["']read["']/ },
  { what: "the mask kinds as a list or union", pattern: /["']redact["']\s*[,|]\s*["']partial["']\s*[,|]\s*["']email["']/ },
  { what: "a hand-written TableRule/ScopeDoc interface", pattern: /interface\s+(TableRule|ScopeDoc|Scope)\s*\{/ },
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|tsx|mts)$/.test(entry) && !/\.d\.ts$/.test(entry)) out.push(path);
  }
  return out;
}

function offenders(files: { name: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { name, text } of files) {
    if (name.startsWith(OWNER)) continue;
    for (const { what, pattern } of REDECLARATIONS) if (pattern.test(text)) found.push(`${name}: ${what}`);
  }
  return found;
}

describe("one scope schema", () => {
  test("the patterns catch the re-declarations this codebase used to have (the scan can fail)", () => {
    const old = [
      { name: "apps/worker/src/schema/visibility.ts", text: "const tableRule = z.object({ access: z.string().optional(), hiddenColumns: z.array(z.string()).optional() })" },
      { name: "apps/web/src/features/links/scope-editor.tsx", text: '{(["none", "read", "write", "admin"] as const).map((a) => (' },
      { name: "apps/web/src/features/links/scope-doc.ts", text: 'export type Access = "none" | "read" | "write" | "admin";\nexport interface TableRule {' },
      { name: "apps/gateway/src/calls/outcome-schema.ts", text: 'const access = z.enum(["none", "read", "write", "admin"]);' },
      { name: "apps/web/src/x.ts", text: 'const masks = ["redact", "partial", "email", "last4", "hash"];' },
    ];
    expect(offenders(old)).toHaveLength(old.length + 2);
    expect(offenders([{ name: `${OWNER}schema.ts`, text: old[0]!.text }])).toEqual([]);
  });

  test("no source file outside packages/policy/src/scope declares the scope document again", () => {
    const files = SCANNED.flatMap((dir) => sourceFiles(join(ROOT, dir))).map((path) => ({ name: relative(ROOT, path), text: readFileSync(path, "utf8") }));
    expect(files.length).toBeGreaterThan(100);
    expect(offenders(files)).toEqual([]);
  });
});
