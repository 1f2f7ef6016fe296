import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./paths.js";

export interface Instruction {
  op: string;
  args: string;
  line: number;
}
export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** The Dockerfile's instructions by stage (continuations joined, comments and the parser directive dropped). */
export function parseDockerfile(text = readFileSync(path.join(ROOT, "Dockerfile"), "utf8")): { args: Record<string, string>; stages: Stage[] } {
  const logical: Instruction[] = [];
  let buffer = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    if (/^\s*#/.test(raw) && buffer === "") return;
    if (/^\s*#/.test(raw)) return;
    if (buffer === "") start = i + 1;
    const cont = raw.endsWith("\\");
    buffer += (cont ? raw.slice(0, -1) : raw) + " ";
    if (!cont) {
      const line = buffer.trim();
      buffer = "";
      if (line) {
        const [op, ...rest] = line.split(/\s+/);
        logical.push({ op: op!.toUpperCase(), args: rest.join(" "), line: start });
      }
    }
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of logical) {
    if (ins.op === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: unreadable FROM ${ins.args}`);
      const from = m[1]!.replace(/^\$\{(\w+)\}$/, (_x, name: string) => args[name] ?? `\${${name}}`);
      stages.push({ name: m[2] ?? String(stages.length), from, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.op !== "ARG") throw new Error(`line ${ins.line}: ${ins.op} before the first FROM`);
      const [name, value] = ins.args.split("=");
      args[name!] = value ?? "";
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { args, stages };
}

/** A COPY's flags, sources and destination (JSON form not used by our Dockerfile, refused here). */
export function copyParts(ins: Instruction): { from?: string; sources: string[]; dest: string } {
  if (ins.args.startsWith("[")) throw new Error(`line ${ins.line}: JSON-form COPY is not checked`);
  const words = ins.args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith("--")) {
    const flag = words.shift()!;
    if (flag.startsWith("--from=")) from = flag.slice("--from=".length);
  }
  const dest = words.pop()!;
  return { ...(from ? { from } : {}), sources: words, dest };
}

/** .dockerignore as Docker reads it: later lines win, `!` re-includes, a match on a parent excludes the tree. */
export function dockerIgnored(): (relative: string) => boolean {
  const rules = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, "").replace(/\/+$/, "");
      // `**` becomes a character no pattern holds while the rest is escaped, then its regex.
      const source = pattern
        .split("/")
        .map((part) => (part === "**" ? "\u2042" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")))
        .join("/")
        .replace(/\u2042\//g, "(?:.*/)?")
        .replace(/\u2042/g, ".*");
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (relative) => {
    const parts = relative.split("/");
    let ignored = false;
    for (const rule of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (rule.re.test(parts.slice(0, i).join("/"))) {
          ignored = !rule.negate;
          break;
        }
      }
    }
    return ignored;
  };
}
