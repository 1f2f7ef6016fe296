import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../../..");
export const CHART = path.join(ROOT, "deploy", "helm", "portcullis");
export const ENTRYPOINT = path.join(ROOT, "scripts", "docker-entrypoint.sh");
/** Where the Dockerfile puts the repository in the image (WORKDIR). */
export const IMAGE_ROOT = "/app";
