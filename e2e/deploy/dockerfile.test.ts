import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { copyParts, dockerIgnored, parseDockerfile } from "./support/dockerfile.js";
import { ENTRYPOINT, IMAGE_ROOT, ROOT } from "./support/paths.js";

// The Dockerfile without a container engine: every file and stage it names exists and survives
// .dockerignore, the install is the lockfile's, and the image's entrypoint runs files that exist.
const { args, stages } = parseDockerfile();
const ignored = dockerIgnored();
const stage = (name: string) => stages.find((s) => s.name === name);
const ops = (name: string, op: string) => (stage(name)?.instructions ?? []).filter((i) => i.op === op);
const runtime = stages.at(-1)!;
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { packageManager: string };

/** Workspace projects (pnpm-workspace.yaml's globs are `dir/*` or a plain dir). */
function workspaceManifests(): string[] {
  const globs = [...readFileSync(path.join(ROOT, "pnpm-workspace.yaml"), "utf8").matchAll(/^\s+-\s+(\S+)\s*$/gm)].map((m) => m[1]!.replace(/^["']|["']$/g, ""));
  return globs.flatMap((glob) => {
    const dirs = glob.endsWith("/*") ? readdirSync(path.join(ROOT, glob.slice(0, -2)), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `${glob.slice(0, -2)}/${d.name}`) : [glob];
    return dirs.filter((d) => existsSync(path.join(ROOT, d, "package.json"))).map((d) => `${d}/package.json`);
  });
}

describe("Dockerfile", () => {
  it("builds on node:24-bookworm-slim in named stages, each FROM an earlier stage or that image", () => {
    expect(args.NODE_IMAGE).toBe("node:24-bookworm-slim");
    expect(stages.map((s) => s.name)).toEqual(["base", "deps", "build", "prod-deps", "runtime"]);
    stages.forEach((s, i) => {
      const earlier = stages.slice(0, i).map((x) => x.name);
      expect(s.from === "node:24-bookworm-slim" || earlier.includes(s.from), `${s.name} FROM ${s.from}`).toBe(true);
    });
  });

  it("copies only sources that exist in the build context and that .dockerignore lets through", () => {
    let checked = 0;
    for (const s of stages) {
      for (const ins of s.instructions.filter((i) => i.op === "COPY")) {
        const { from, sources } = copyParts(ins);
        if (from) {
          const earlier = stages.slice(0, stages.indexOf(s)).map((x) => x.name);
          expect(earlier, `line ${ins.line}: --from=${from}`).toContain(from);
          for (const src of sources) expect(src.startsWith(IMAGE_ROOT), `line ${ins.line}: ${src}`).toBe(true);
          continue;
        }
        for (const src of sources) {
          expect(existsSync(path.join(ROOT, src)), `line ${ins.line}: ${src} missing`).toBe(true);
          expect(ignored(src), `line ${ins.line}: ${src} is in .dockerignore`).toBe(false);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it(".dockerignore keeps local data, secrets and installed packages out, and what the image runs in", () => {
    for (const out of [".env", ".data/pg/PG_VERSION", "node_modules/tsx", "apps/web/node_modules/next", "apps/web/.next/BUILD_ID", "packages/db/src/generated/prisma/client.ts", ".git/HEAD"]) {
      expect(ignored(out), out).toBe(true);
    }
    for (const kept of [".env.example", "scripts/docker-entrypoint.sh", "scripts/web-server.mjs", "scripts/prisma-generate.sh", "packages/db/seed/chinook/chinook.sql", "prisma/schema.prisma", "apps/web/next.config.ts"]) {
      expect(ignored(kept), kept).toBe(false);
      expect(existsSync(path.join(ROOT, kept)), kept).toBe(true);
    }
  });

  it("installs from the lockfile with the project's pnpm, every workspace manifest copied first", () => {
    const run = ops("deps", "RUN").map((i) => i.args).join("\n");
    expect(run).toContain("install --frozen-lockfile");
    expect(pkg.packageManager).toBe(`pnpm@${/PNPM_VERSION=(\S+)/.exec(ops("base", "ENV").map((i) => i.args).join(" "))![1]}`);
    expect(run).toContain("npx -y pnpm@${PNPM_VERSION}");
    const copied = ops("deps", "COPY").flatMap((i) => copyParts(i).sources);
    for (const manifest of ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml", ...workspaceManifests()]) expect(copied, manifest).toContain(manifest);
  });

  it("generates the Prisma client and builds the dashboard as the quick start does", () => {
    const run = ops("build", "RUN").map((i) => i.args).join("\n");
    expect(run).toContain("bash scripts/prisma-generate.sh");
    expect(run).toContain("next build --webpack");
    expect(readFileSync(path.join(ROOT, "scripts", "up.sh"), "utf8")).toContain("next build --webpack");
  });

  it("runs as a numeric non-root user, with a HEALTHCHECK and the entrypoint script", () => {
    const user = runtime.instructions.filter((i) => i.op === "USER").at(-1)?.args;
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const entry = JSON.parse(runtime.instructions.find((i) => i.op === "ENTRYPOINT")!.args) as string[];
    expect(entry).toEqual([`${IMAGE_ROOT}/scripts/docker-entrypoint.sh`]);
    expect(path.join(ROOT, entry[0]!.slice(IMAGE_ROOT.length))).toBe(ENTRYPOINT);
    accessSync(ENTRYPOINT, constants.X_OK);
    expect(statSync(ENTRYPOINT).mode & 0o111).not.toBe(0);
    const health = runtime.instructions.find((i) => i.op === "HEALTHCHECK")!.args;
    expect(health).toContain(`CMD ["${IMAGE_ROOT}/scripts/docker-entrypoint.sh", "healthcheck"]`);
    // The workdir the sources land in is the one the entrypoint path assumes.
    expect(ops("base", "WORKDIR").map((i) => i.args)).toEqual([IMAGE_ROOT]);
  });

  it("names in the entrypoint only files that exist and reach the image", () => {
    const script = readFileSync(ENTRYPOINT, "utf8");
    const files = [...script.matchAll(/exec node (?:--import tsx )?(\S+\.(?:ts|mjs))/g)].map((m) => m[1]!);
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      // `web` runs from apps/web (Next.js's directory), the rest from the repository root.
      const relative = file.startsWith("../../") ? file.slice("../../".length) : file;
      expect(existsSync(path.join(ROOT, relative)), file).toBe(true);
      expect(ignored(relative), file).toBe(false);
    }
  });
});
