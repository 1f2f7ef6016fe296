import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The dashboard's attack surface, read from the code that runs (the production build's manifests)
 * and cross-checked against the sources, so a new server action or route handler cannot ship
 * without the attack suite noticing. No list of actions is kept by hand anywhere.
 */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WEB_SRC = path.join(REPO_ROOT, "apps", "web", "src");
const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

export interface ActionParam {
  name: string;
  /** Field names when the parameter is typed as an object literal (or a named type we could read). */
  fields: string[];
  /** The type text as written, for messages. */
  type: string;
}

export interface ServerAction {
  id: string;
  name: string;
  /** Source file relative to apps/web/src. */
  file: string;
  /** Pages whose server bundle holds the action (a POST to one of them reaches it). */
  pages: string[];
  params: ActionParam[];
}

export interface RouteHandler {
  /** App route pattern, e.g. /t/[slug]/activity/export. */
  route: string;
  file: string;
  methods: string[];
}

export interface Surface {
  actions: ServerAction[];
  routes: RouteHandler[];
  pages: string[];
  /** Anything the cross-check could not map: the suite fails on a non-empty list. */
  problems: string[];
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

function splitTopLevel(text: string, separators: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  let prev = "";
  for (const ch of text) {
    if ("{([<".includes(ch)) depth++;
    // The ">" of an arrow function closes nothing.
    if ("})]>".includes(ch) && !(ch === ">" && prev === "=")) depth--;
    prev = ch;
    if (depth === 0 && separators.includes(ch)) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  if (current.trim()) parts.push(current);
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** The text between the bracket at `start` and its partner. */
function balanced(text: string, start: number): string {
  const open = text[start]!;
  const close = ({ "(": ")", "{": "}", "[": "]" } as Record<string, string>)[open]!;
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === open) depth++;
    else if (text[i] === close && --depth === 0) return text.slice(start + 1, i);
  }
  throw new Error(`unbalanced ${open} at ${start}`);
}

function fieldsOfType(typeText: string, source: string, file: string): string[] {
  const t = typeText.trim();
  if (t.startsWith("{")) {
    return splitTopLevel(balanced(t, 0), ";,")
      .map((member) => /^(?:readonly\s+)?["']?([A-Za-z_$][\w$]*)["']?\s*\??\s*:/.exec(member)?.[1])
      .filter((n): n is string => !!n);
  }
  // A named type (ops.ConnectionInput, Foo): read its declaration in this file or the imported module.
  const name = /([A-Za-z_$][\w$]*)\s*$/.exec(t.replace(/\[\]$/, ""))?.[1];
  if (!name || /^(string|number|boolean|unknown|any|null|undefined)$/.test(name)) return [];
  const candidates = [source];
  for (const m of source.matchAll(/from\s+["'](\.[^"']+)["']/g)) {
    for (const ext of [".ts", ".tsx", "/index.ts"]) {
      try {
        candidates.push(readFileSync(path.resolve(path.dirname(path.join(WEB_SRC, file)), m[1]! + ext), "utf8"));
        break;
      } catch {
        // next extension
      }
    }
  }
  for (const text of candidates) {
    const decl = new RegExp(`(?:type\\s+${name}\\s*=|interface\\s+${name}\\b[^{]*)\\s*\\{`).exec(text);
    if (decl) return fieldsOfType(text.slice(decl.index + decl[0].length - 1), text, file);
    const inferred = new RegExp(`(?:type\\s+${name}\\s*=\\s*z\\.(?:infer|input)<typeof\\s+(\\w+)>)`).exec(text);
    if (inferred) {
      const schema = new RegExp(`const\\s+${inferred[1]}\\s*=\\s*z\\.object\\(\\s*\\{`).exec(text);
      if (schema) return fieldsOfType(text.slice(schema.index + schema[0].length - 1), text, file);
    }
  }
  return [];
}

const OBJECT_SCHEMA = /(?:\binput|z\.object|z\.strictObject|z\.looseObject)\(\s*\{/;

/**
 * Field names of an action built from a schema (`export const x = teamAction("admin", someInput, ...)`):
 * the object literal given inline, or the one a constant named in the call holds.
 */
function schemaFields(source: string, from: number, file: string): string[] {
  const call = source.indexOf("(", from);
  if (call < 0) return [];
  const args = balanced(source, call);
  const keysOf = (text: string, at: number) => fieldsOfType(text.slice(at + text.slice(at).indexOf("{")), text, "");
  const inline = OBJECT_SCHEMA.exec(args);
  if (inline) return keysOf(args, inline.index);
  for (const ident of splitTopLevel(args, ",").filter((a) => /^[A-Za-z_$][\w$]*$/.test(a))) {
    // The constant may live in this file or in a module it imports relatively.
    for (const text of [source, ...importedSources(source, file)]) {
      const decl = new RegExp(`const\\s+${ident}\\s*=\\s*`).exec(text);
      if (!decl) continue;
      const rest = text.slice(decl.index + decl[0].length);
      const schema = OBJECT_SCHEMA.exec(rest);
      // The schema must be this constant's own initializer, not one further down the file.
      if (schema && !/;\s*\n/.test(rest.slice(0, schema.index))) return keysOf(rest, schema.index);
    }
  }
  return [];
}

function importedSources(source: string, file: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/from\s+["'](\.[^"']+|@\/[^"']+)["']/g)) {
    const spec = m[1]!.startsWith("@/") ? path.join(WEB_SRC, m[1]!.slice(2)) : path.resolve(path.dirname(path.join(WEB_SRC, file)), m[1]!);
    for (const ext of [".ts", ".tsx", "/index.ts"]) {
      try {
        out.push(readFileSync(spec.replace(/\.js$/, "") + ext, "utf8"));
        break;
      } catch {
        // next extension
      }
    }
  }
  return out;
}

interface SourceExport {
  name: string;
  file: string;
  params: ActionParam[];
}

/** Every export of every "use server" module (the directive at the top, or inside a function body). */
export function serverActionSources(): { exports: SourceExport[]; inlineActions: string[] } {
  const exports: SourceExport[] = [];
  const inlineActions: string[] = [];
  for (const full of walk(WEB_SRC).filter((f) => /\.(ts|tsx)$/.test(f))) {
    const source = readFileSync(full, "utf8");
    const file = path.relative(WEB_SRC, full);
    const moduleLevel = /^\s*(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/\s*)*\s*["']use server["']/.test(source);
    if (!moduleLevel) {
      if (/["']use server["']/.test(source)) inlineActions.push(file);
      continue;
    }
    for (const m of source.matchAll(/export\s+(?:async\s+)?function\s+([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\(/g)) {
      const paramText = balanced(source, m.index! + m[0].length - 1);
      const params = splitTopLevel(paramText, ",").map((p) => {
        const colon = p.indexOf(":");
        const name = (colon < 0 ? p : p.slice(0, colon)).replace(/[?=].*$/, "").trim();
        const type = colon < 0 ? "unknown" : p.slice(colon + 1).trim();
        return { name, type, fields: fieldsOfType(type, source, file) };
      });
      exports.push({ name: m[1]!, file, params });
    }
    for (const m of source.matchAll(/export\s+const\s+([A-Za-z_$][\w$]*)\s*=/g)) {
      exports.push({ name: m[1]!, file, params: [{ name: "input", type: "schema", fields: schemaFields(source, m.index! + m[0].length, file) }] });
    }
    for (const m of source.matchAll(/export\s*\{([^}]*)\}/g)) {
      for (const spec of m[1]!.split(",")) {
        const name = spec.split(/\s+as\s+/).pop()!.trim();
        if (name) exports.push({ name, file, params: [{ name: "input", type: "unknown", fields: [] }] });
      }
    }
  }
  return { exports, inlineActions };
}

/** Every route.ts and the HTTP methods it exports. */
export function routeHandlerSources(): RouteHandler[] {
  const appDir = path.join(WEB_SRC, "app");
  return walk(appDir)
    .filter((f) => /\/route\.(ts|js)$/.test(f))
    .map((full) => {
      const source = readFileSync(full, "utf8");
      const methods = new Set<string>();
      for (const method of HTTP_METHODS) {
        const declared = new RegExp(`export\\s+(?:async\\s+)?(?:function|const|let)\\s+${method}\\b`).test(source);
        const reExported = [...source.matchAll(/export\s*(?:const\s*)?\{([^}]*)\}/g)].some((m) =>
          m[1]!.split(",").some((spec) => spec.split(/\s+as\s+/).pop()!.trim() === method),
        );
        if (declared || reExported) methods.add(method);
      }
      // Route groups "(x)" are not part of the URL.
      const rel = path.relative(appDir, path.dirname(full)).split(path.sep).filter((s) => !/^\(.*\)$/.test(s));
      return { route: "/" + rel.join("/"), file: path.relative(WEB_SRC, full), methods: [...methods] };
    });
}

interface ReferenceEntry {
  workers: Record<string, unknown>;
  filename?: string;
  exportedName?: string;
}

/** Reads the build in `distDir` and maps it onto the sources; any mismatch lands in `problems`. */
export function readSurface(distDir: string): Surface {
  const problems: string[] = [];
  const refs = JSON.parse(readFileSync(path.join(distDir, "server", "server-reference-manifest.json"), "utf8")) as { node: Record<string, ReferenceEntry> };
  const appPaths = JSON.parse(readFileSync(path.join(distDir, "server", "app-paths-manifest.json"), "utf8")) as Record<string, string>;
  const { exports, inlineActions } = serverActionSources();
  for (const file of inlineActions) problems.push(`${file}: an inline "use server" function (not a module-level action) — the suite cannot map it; move it to an actions module`);

  const actions: ServerAction[] = [];
  const seen = new Set<string>();
  for (const [id, entry] of Object.entries(refs.node)) {
    const pages = Object.keys(entry.workers).map((w) => w.replace(/^app/, "").replace(/\/page$/, "").replace(/\/\([^/]+\)/g, "") || "/");
    const file = entry.filename?.replace(/^(\.\/)?(src\/)?/, "");
    const source = exports.find((e) => e.name === entry.exportedName && (!file || e.file === file));
    if (!entry.exportedName || !source) {
      problems.push(`action ${id} (${entry.filename ?? "no file"}#${entry.exportedName ?? "no name"}) has no matching export in apps/web/src`);
      continue;
    }
    seen.add(`${source.file}#${source.name}`);
    actions.push({ id, name: source.name, file: source.file, pages, params: source.params });
  }
  for (const e of exports) {
    if (!seen.has(`${e.file}#${e.name}`)) problems.push(`${e.file} exports ${e.name} from a "use server" module, but the build has no action for it`);
  }

  const built = Object.keys(appPaths).filter((p) => p.endsWith("/route")).map((p) => p.replace(/\/route$/, "").replace(/\/\([^/]+\)/g, ""));
  const routes = routeHandlerSources();
  for (const r of routes) {
    if (!built.includes(r.route)) problems.push(`${r.file}: route ${r.route} is not in the build's app-paths-manifest`);
    if (r.methods.length === 0) problems.push(`${r.file}: no HTTP method export could be read`);
  }
  for (const b of built) if (!routes.some((r) => r.route === b)) problems.push(`route ${b} is in the build but no route.ts maps to it`);
  const pages = Object.keys(appPaths).filter((p) => p.endsWith("/page")).map((p) => p.replace(/\/page$/, "").replace(/\/\([^/]+\)/g, "") || "/");
  return { actions: actions.sort((a, b) => a.name.localeCompare(b.name)), routes, pages, problems };
}

/** The dashboard's build directory of this run (global setup records it in the state file). */
export function runDistDir(): string {
  const stateFile = process.env.E2E_STATE_FILE;
  if (!stateFile) throw new Error("E2E_STATE_FILE is not set: run through playwright (global setup starts the stack)");
  const state = JSON.parse(readFileSync(stateFile, "utf8")) as { webDir: string; distDir: string };
  return path.join(state.webDir, state.distDir);
}
