import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";

/**
 * Apps import packages, never each other. The dashboard once imported the worker app for its producer
 * helpers, so building the dashboard compiled the worker and a change to a worker processor could
 * break a page; what both sides need is a contract, which lives in packages/jobs. This scan fails on
 * any import of another app (by package name or by a relative path into its folder) and on any app's
 * package.json listing another app.
 */
const ROOT = join(__dirname, "../../..");
const APPS = readdirSync(join(ROOT, "apps")).filter((name) => statSync(join(ROOT, "apps", name)).isDirectory());

function packageName(app: string): string {
  return (JSON.parse(readFileSync(join(ROOT, "apps", app, "package.json"), "utf8")) as { name: string }).name;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (entry === "node_modules" || entry.startsWith(".") || entry === "generated") continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|tsx|mts|cts|js|mjs)$/.test(entry) && !/\.d\.ts$/.test(entry)) out.push(path);
  }
  return out;
}

/** Every module specifier of a file: import/export … from, import(), require(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:from|import|require)\s*\(?\s*["']([^"']+)["']/g)) found.push(m[1]!);
  return found;
}

/** Which other app a specifier reaches from `file` of `app`, if any. */
function otherAppReached(app: string, file: string, specifier: string, names: Map<string, string>): string | undefined {
  for (const [other, name] of names) {
    if (other === app) continue;
    if (specifier === name || specifier.startsWith(`${name}/`)) return other;
  }
  if (specifier.startsWith(".")) {
    const target = relative(join(ROOT, "apps"), join(file, "..", specifier)).split(/[\\/]/)[0];
    if (target && target !== app && names.has(target)) return target;
  }
  return undefined;
}

const names = new Map(APPS.map((app) => [app, packageName(app)]));

describe("apps do not depend on other apps", () => {
  test("the scan sees every app and catches both kinds of import", () => {
    expect([...names.keys()].sort()).toEqual(expect.arrayContaining(["cli", "gateway", "web", "worker"]));
    const file = join(ROOT, "apps/web/src/lib/redis.ts");
    expect(otherAppReached("web", file, "@portcullis/worker/enqueue", names)).toBe("worker");
    expect(otherAppReached("web", file, "../../../worker/src/enqueue", names)).toBe("worker");
    expect(otherAppReached("web", file, "@portcullis/jobs", names)).toBeUndefined();
    expect(otherAppReached("web", file, "./env", names)).toBeUndefined();
    expect(specifiers(`import x from "a";\nexport { y } from 'b';\nconst z = await import("c");\nimport type { T } from "d";`)).toEqual(["a", "b", "c", "d"]);
  });

  // What ships and what each app's build compiles. An app's integration tests may start another app as
  // a real part of the system under test (the gateway's durability tests run the worker in-process);
  // that is the test's harness, not a dependency of the app.
  test("no source or bench file of an app imports another app", () => {
    const offences: string[] = [];
    for (const app of APPS) {
      for (const dir of ["src", "bench"]) {
        for (const file of sourceFiles(join(ROOT, "apps", app, dir))) {
          for (const specifier of specifiers(readFileSync(file, "utf8"))) {
            const other = otherAppReached(app, file, specifier, names);
            if (other) offences.push(`${relative(ROOT, file)} imports ${specifier} (apps/${other})`);
          }
        }
      }
    }
    expect(offences).toEqual([]);
  });

  test("no app's package.json depends on another app", () => {
    const offences: string[] = [];
    const appNames = new Set(names.values());
    for (const app of APPS) {
      const pkg = JSON.parse(readFileSync(join(ROOT, "apps", app, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
      for (const field of ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"]) {
        for (const dep of Object.keys(pkg[field] ?? {})) if (appNames.has(dep) && dep !== names.get(app)) offences.push(`apps/${app} ${field}: ${dep}`);
      }
    }
    expect(offences).toEqual([]);
  });
});
