import type { Command } from "commander";
import { reencryptSecrets } from "@portcullis/db/operations";
import { generateSecretKey } from "@portcullis/db/secrets";
import { db } from "../context.js";
import { emit, fail, type OutputOptions } from "../output.js";

export function registerSecretsCommands(program: Command): void {
  const secrets = program.command("secrets").description("connection secret encryption keys");
  secrets
    .command("generate-key")
    .description("print a new key entry for PORTCULLIS_SECRET_KEYS")
    .requiredOption("--id <id>", "key id, e.g. k2")
    .option("--json", "print JSON")
    .action((options: OutputOptions & { id: string }) => {
      const entry = generateSecretKey(options.id);
      emit(options, { entry }, () => `${entry}\n\nPut it FIRST in PORTCULLIS_SECRET_KEYS (comma-separated), keep the old keys after it, restart, then run \`./portcullis secrets reencrypt\`.`);
    });
  secrets
    .command("reencrypt")
    .description("re-seal every connection secret under the first key of PORTCULLIS_SECRET_KEYS")
    .option("--json", "print JSON")
    .action(async (options: OutputOptions) => {
      try {
        const result = await reencryptSecrets(db());
        emit(options, result, () =>
          `re-encrypted ${result.reencrypted} secrets under key ${result.primaryKeyId}; ${result.remaining} remain under older keys`,
        );
      } catch (error) {
        fail(options, error);
      }
    });
}
