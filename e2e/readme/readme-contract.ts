import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./quickstart-stack.js";

/**
 * The README's contract, as the "How this README is tested" section states it:
 * - every ```bash block is commands, run as written from the checkout's root, one bash script per
 *   block (so a block's commands may chain through shell variables), stopping at the first failure;
 * - ```json / ```text blocks are not commands; the MCP URLs in them (and in inline code) must answer;
 * - a block preceded by `<!-- readme-test: not run — REASON -->` is illustrative (its URLs are still
 *   checked); the reason is required and such blocks must stay rare;
 * - in snippets, `<linkId>` and `<key>` stand for a demo link's id and its printed key, and the default
 *   gateway address http://localhost:3001 for the running stack's.
 */
export interface CodeBlock {
  lang: string;
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
  notRun?: string;
}

export interface Command {
  text: string;
  line: number;
}

export const README = path.join(ROOT, "README.md");
const NOT_RUN = /^<!--\s*readme-test:\s*not run\s*[—-]\s*(.+?)\s*-->$/;

export function readmeText(): string {
  return readFileSync(README, "utf8");
}

export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split("\n");
  const blocks: CodeBlock[] = [];
  const at = (i: number) => lines[i] ?? "";
  for (let i = 0; i < lines.length; i++) {
    const open = at(i).match(/^```(\w*)\s*$/);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(at(i)); i++) body.push(at(i));
    let j = start - 1;
    while (j >= 0 && at(j).trim() === "") j--;
    const marker = at(j).trim().match(NOT_RUN);
    blocks.push({ lang: open[1] ?? "", text: body.join("\n"), line: start + 1, ...(marker?.[1] ? { notRun: marker[1] } : {}) });
  }
  return blocks;
}

export const isShell = (block: CodeBlock) => ["bash", "sh", "shell", "console"].includes(block.lang);

/** A shell block's commands: comment and blank lines skipped, backslash continuations joined. */
export function commandsOf(block: CodeBlock): Command[] {
  const out: Command[] = [];
  const lines = block.text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    let text = line;
    const first = i;
    while (text.endsWith("\\") && i + 1 < lines.length) text = `${text.slice(0, -1)} ${(lines[++i] ?? "").trim()}`;
    out.push({ text: text.trim(), line: block.line + 1 + first });
  }
  return out;
}

/** Every MCP URL the README shows (blocks and inline code), as written. */
export function mcpUrls(markdown: string): string[] {
  return [...new Set(markdown.match(/https?:\/\/[^\s"'`)]+\/mcp\/[^\s"'`),]+/g) ?? [])];
}

/** Relative links ([text](path)) to files of the checkout. */
export function relativeLinks(markdown: string): string[] {
  return [...new Set([...markdown.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1] ?? "").filter((href) => href && !/^[a-z]+:/i.test(href)))];
}
