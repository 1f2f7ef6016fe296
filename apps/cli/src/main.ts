import { Command } from "commander";
import { registerTeamCommands } from "./commands/team.js";
import { registerUserCommands } from "./commands/user.js";
import { registerConnectionCommands } from "./commands/connection.js";
import { registerLinkCommands } from "./commands/link.js";
import { registerKeyCommands } from "./commands/key.js";
import { registerAuditCommands } from "./commands/audit.js";
import { registerSecretsCommands } from "./commands/secrets.js";
import { registerIdpCommands } from "./commands/idp.js";
import { registerMemberCommands } from "./commands/member.js";
import { registerApprovalCommands } from "./commands/approvals.js";
import { registerAccessCommands } from "./commands/access.js";
import { closeDb } from "./context.js";
import { loadLocalEnv } from "./env.js";

loadLocalEnv();

// `pnpm portcullis <command>`: the operator CLI. Each command accepts --json for scripts.
const program = new Command("portcullis")
  .description("Portcullis operator CLI")
  .showHelpAfterError()
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : 2);
  });

registerTeamCommands(program);
registerUserCommands(program);
registerConnectionCommands(program);
registerLinkCommands(program);
registerKeyCommands(program);
registerAuditCommands(program);
registerSecretsCommands(program);
registerIdpCommands(program);
registerMemberCommands(program);
registerApprovalCommands(program);
registerAccessCommands(program);

try {
  await program.parseAsync(process.argv);
} finally {
  await closeDb();
}
