import { execFileSync } from "node:child_process";

/**
 * YAML through Python's PyYAML, which Debian's docker-compose depends on (so it is there wherever the
 * compose check can run); the workspace has no YAML parser of its own and takes no new dependency.
 * Every document of the text, in order; empty documents are dropped.
 */
export function parseYamlDocuments(text: string): unknown[] {
  const out = execFileSync(
    "python3",
    ["-c", "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(sys.stdin.read()) if d is not None], default=str))"],
    { input: text, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out) as unknown[];
}

export function parseYaml(text: string): unknown {
  const docs = parseYamlDocuments(text);
  if (docs.length !== 1) throw new Error(`expected one YAML document, found ${docs.length}`);
  return docs[0];
}
