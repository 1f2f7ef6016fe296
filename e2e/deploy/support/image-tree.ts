import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { copyParts, dockerIgnored, parseDockerfile } from "./dockerfile.js";
import { IMAGE_ROOT, ROOT } from "./paths.js";

/**
 * The image's /app without a container engine: the Dockerfile's own COPY and RUN instructions of the
 * deps and prod-deps stages are carried out on fresh directories (RUN through sh with the stages'
 * ENV), and the runtime stage's COPYs assemble the tree from them, from the build context (filtered
 * by .dockerignore) and from the build stage. The build stage (prisma generate, next build: minutes)
 * is not re-run: its outputs come from this checkout, where the same commands made them. A stage
 * nothing later reads again is moved, not copied (node_modules is most of a gigabyte).
 */
export function assembleImageTree(): { root: string; cleanup(): void } {
  const { stages } = parseDockerfile();
  const ignored = dockerIgnored();
  const work = mkdtempSync(path.join(tmpdir(), "pc-image-"));
  const dirs = new Map<string, string>();
  const envs = new Map<string, Record<string, string>>();
  const inImage = (dir: string, dest: string) => path.join(dir, dest.startsWith(IMAGE_ROOT) ? dest.slice(IMAGE_ROOT.length) : dest);
  const usedAfter = (name: string, index: number) =>
    stages.slice(index + 1).some((s) => s.from === name || s.instructions.some((i) => i.op === "COPY" && copyParts(i).from === name));
  // Docker's COPY: a file into a directory destination (ending in /) keeps its name; a directory's
  // contents merge into the destination.
  const copy = (origin: string, target: string, dest: string, filter?: (file: string) => boolean) => {
    const file = statSync(origin).isFile();
    const to = file && dest.endsWith("/") ? path.join(target, path.basename(origin)) : target;
    cpSync(origin, to, { recursive: true, verbatimSymlinks: true, ...(filter ? { filter } : {}) });
  };

  stages.forEach((stage, index) => {
    const dir = path.join(work, stage.name);
    const env = { ...(envs.get(stage.from) ?? {}) };
    for (const ins of stage.instructions.filter((i) => i.op === "ENV")) for (const m of ins.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
    envs.set(stage.name, env);
    dirs.set(stage.name, dir);
    if (stage.name === "build") return; // its outputs are the checkout's (above)
    const base = dirs.get(stage.from);
    if (base && !usedAfter(stage.from, index - 1)) renameSync(base, dir);
    else if (base) cpSync(base, dir, { recursive: true, verbatimSymlinks: true });
    else mkdirSync(dir);
    for (const ins of stage.instructions) {
      if (ins.op === "COPY") {
        const { from, sources, dest } = copyParts(ins);
        for (const src of sources) {
          if (!from) {
            copy(path.join(ROOT, src), inImage(dir, dest), dest, (file) => !ignored(path.relative(ROOT, file)));
          } else if (from === "build") {
            const origin = path.join(ROOT, src.slice(IMAGE_ROOT.length));
            if (!existsSync(origin) || (src.endsWith("/.next") && !existsSync(path.join(origin, "BUILD_ID")))) buildOutput(src);
            copyStable(origin, inImage(dir, dest), () => copy(origin, inImage(dir, dest), dest));
          } else if (src === IMAGE_ROOT && dest === IMAGE_ROOT && readdirSync(dir).length === 0 && !usedAfter(from, index)) {
            rmSync(dir, { recursive: true });
            renameSync(dirs.get(from)!, dir);
          } else {
            copy(inImage(dirs.get(from)!, src), inImage(dir, dest), dest);
          }
        }
      } else if (ins.op === "RUN" && stage.name !== "runtime") {
        execFileSync("sh", ["-c", ins.args], {
          cwd: dir,
          env: { ...env, PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" },
          stdio: ["ignore", "ignore", "inherit"],
        });
      }
    }
  });
  return { root: dirs.get(stages.at(-1)!.name)!, cleanup: () => rmSync(work, { recursive: true, force: true }) };
}

/**
 * A dashboard build in the shared checkout can be rebuilt while it is copied (scripts/up.sh rebuilds
 * when sources change): the copy counts only when the BUILD_ID is the same before, after and in it.
 */
function copyStable(origin: string, target: string, run: () => void): void {
  const idFile = path.join(origin, "BUILD_ID");
  if (!existsSync(idFile)) return run();
  for (let attempt = 0; attempt < 40; attempt++) {
    const before = existsSync(idFile) ? readFileSync(idFile, "utf8") : undefined;
    if (before !== undefined) {
      rmSync(target, { recursive: true, force: true });
      run();
      const copied = path.join(target, "BUILD_ID");
      if (existsSync(idFile) && readFileSync(idFile, "utf8") === before && existsSync(copied) && readFileSync(copied, "utf8") === before) return;
    }
    execFileSync("sleep", ["10"]);
  }
  throw new Error(`${origin} kept changing while it was copied (a build running?)`);
}

/** The build stage's outputs, made in the checkout with the build stage's own commands when absent. */
function buildOutput(imagePath: string): void {
  if (imagePath === `${IMAGE_ROOT}/apps/web/.next`) {
    const web = path.join(ROOT, "apps", "web");
    execFileSync(process.execPath, [path.join(web, "node_modules", "next", "dist", "bin", "next"), "build", "--webpack"], { cwd: web, stdio: ["ignore", "ignore", "inherit"] });
  } else if (imagePath === `${IMAGE_ROOT}/packages/db/src/generated`) {
    execFileSync("bash", ["scripts/prisma-generate.sh"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  } else {
    throw new Error(`the runtime stage copies ${imagePath} from the build stage, and this check does not know how it is made`);
  }
}
