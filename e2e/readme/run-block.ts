import { spawn } from "node:child_process";
import type { Command } from "./readme-contract.js";
import { ROOT } from "./quickstart-stack.js";

export interface CommandRun {
  command: Command;
  exitCode: number;
  output: string;
  ms: number;
}

const MARK = "\u001eREADME-COMMAND";

/**
 * Runs a block's commands as one bash script from the checkout's root, as a reader pasting the block
 * would (shell variables carry from one command to the next), stopping at the first failure. Each
 * command's output (stdout and stderr, in order) and exit code are reported separately.
 */
export async function runCommands(commands: Command[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CommandRun[]> {
  const script = [
    "exec 2>&1",
    "set -o pipefail",
    ...commands.flatMap((c, i) => [`printf '\\n${MARK} ${i} %s\\n' "$(date +%s%3N)"`, c.text, `__rc=$?; printf '\\n${MARK} ${i} %s exit %d\\n' "$(date +%s%3N)" "$__rc"; [ "$__rc" = 0 ] || exit "$__rc"`]),
  ].join("\n");
  const child = spawn("bash", ["-c", script], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutMs);
  const code = await new Promise<number>((resolve) => child.once("close", (c) => resolve(c ?? 137)));
  clearTimeout(timer);
  const runs: CommandRun[] = [];
  const marks = [...output.matchAll(new RegExp(`\\n${MARK} (\\d+) (\\d+)(?: exit (\\d+))?\\n`, "g"))];
  for (let i = 0; i < commands.length; i++) {
    const start = marks.find((m) => Number(m[1]) === i && m[3] === undefined);
    if (!start) break;
    const end = marks.find((m) => Number(m[1]) === i && m[3] !== undefined);
    const text = output.slice(start.index! + start[0].length, end ? end.index : undefined);
    runs.push({
      command: commands[i]!,
      exitCode: end ? Number(end[3]) : code,
      output: text.trim(),
      ms: end ? Number(end[2]) - Number(start[2]) : NaN,
    });
  }
  return runs;
}

export function describeFailure(run: CommandRun): string {
  return `README.md:${run.command.line}: \`${run.command.text}\` exited with ${run.exitCode}; its output:\n${run.output.slice(-3000) || "(none)"}`;
}
