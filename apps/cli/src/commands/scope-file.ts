import { readFile } from "node:fs/promises";
import type { Prisma } from "@portcullis/db/client";
import { PortcullisError } from "@portcullis/db/errors";

/** A scope document from a file, validated by the policy's parser (its defaults applied). */
export async function readScope(file: string): Promise<Prisma.InputJsonValue> {
  let raw: string;
  try {
    raw = await readFile(file, "utf8");
  } catch {
    throw new PortcullisError("invalid_input", `cannot read scope file ${file}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new PortcullisError("invalid_input", `scope file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const { parseScope } = await import("@portcullis/policy");
  const parsed = parseScope(json);
  if (!parsed.ok) {
    throw new PortcullisError(
      "invalid_input",
      `scope file ${file} is not a valid scope:\n${parsed.errors.map((e) => `  - ${e.path || "(root)"}: ${e.message}`).join("\n")}`,
    );
  }
  return parsed.scope as Prisma.InputJsonValue;
}
