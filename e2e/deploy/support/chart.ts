import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { CHART } from "./paths.js";
import { parseYaml, parseYamlDocuments } from "./yaml.js";

/**
 * The Helm chart without Helm (no helm binary here): a "skeleton render" keeps every literal line of
 * a template, drops lines that hold only template actions (control flow, `include … | nindent`,
 * `toYaml … | nindent`), substitutes `.Values.x.y` (optionally `| quote`, or inside `required`) from
 * values.yaml, and turns any other expression into a token named after its text, so the same
 * expression (e.g. the release name in a selector and in the pod's labels) is the same token. The
 * result is YAML the structure checks read. What it cannot show (whitespace of `nindent`) the
 * templates avoid for anything the checks rely on: selectors and probe ports are written out.
 */
export type Values = Record<string, unknown>;

export const values = parseYaml(readFileSync(path.join(CHART, "values.yaml"), "utf8")) as Values;

export function templateFiles(): string[] {
  return readdirSync(path.join(CHART, "templates")).sort();
}

export function readTemplate(name: string): string {
  return readFileSync(path.join(CHART, "templates", name), "utf8");
}

/** Every `.Values.a.b` path a template names, with the file it is in. */
export function valueReferences(): Array<{ file: string; path: string[] }> {
  const refs: Array<{ file: string; path: string[] }> = [];
  for (const file of templateFiles()) {
    for (const m of readTemplate(file).matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      refs.push({ file, path: m[1]!.slice(1).split(".") });
    }
  }
  return refs;
}

export function lookup(root: unknown, keys: string[]): { found: boolean; value: unknown } {
  let node: unknown = root;
  for (const key of keys) {
    if (node === null || typeof node !== "object" || Array.isArray(node) || !(key in node)) return { found: false, value: undefined };
    node = (node as Record<string, unknown>)[key];
  }
  return { found: true, value: node };
}

/** Leaf paths of values.yaml (a map or list value counts as a leaf when empty). */
export function valueLeaves(node: unknown = values, prefix: string[] = []): string[][] {
  if (node !== null && typeof node === "object" && !Array.isArray(node) && Object.keys(node).length > 0) {
    return Object.entries(node).flatMap(([k, v]) => valueLeaves(v, [...prefix, k]));
  }
  return [prefix];
}

const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/g;
const ONLY_ACTIONS = /^\s*(\{\{-?.*?-?\}\}\s*)+$/;

function substitute(expr: string): string {
  const stages = expr.split("|").map((s) => s.trim());
  const head = stages[0]!.replace(/^required\s+"[^"]*"\s+/, "");
  const ref = /^\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/.exec(head);
  if (ref) {
    const { found, value } = lookup(values, ref[1]!.slice(1).split("."));
    // A missing or non-scalar value stays a token: the reference check names it.
    if (found && (value === null || typeof value !== "object")) {
      const text = String(value ?? "");
      return stages.includes("quote") ? JSON.stringify(text) : text;
    }
  }
  return `T${createHash("sha256").update(expr).digest("hex").slice(0, 10)}`;
}

export function skeleton(text: string): string {
  return text
    .split("\n")
    .filter((line) => !ONLY_ACTIONS.test(line))
    .map((line) => line.replace(ACTION, (_m, expr: string) => substitute(expr)))
    .join("\n");
}

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  file: string;
}

/** Every object the chart's templates declare, with its file. */
export function chartObjects(): K8sObject[] {
  return templateFiles()
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((file) => (parseYamlDocuments(skeleton(readTemplate(file))) as object[]).map((doc) => ({ ...doc, file })));
}

export interface Container {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name: string; containerPort: number | string }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: unknown;
}
export interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: { containers?: Container[]; securityContext?: unknown; restartPolicy?: string };
}

export function podTemplate(obj: K8sObject): PodTemplate {
  return (obj.spec?.template ?? {}) as PodTemplate;
}

/** A probe's port as a number: a named port is looked up among the container's ports. */
export function probePort(container: Container, port: string | number): number {
  if (typeof port === "number") return port;
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`probe names port ${port}, which container ${container.name} does not declare`);
  return Number(named.containerPort);
}
