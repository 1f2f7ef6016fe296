"use server";
import { runAction } from "../../lib/action";
import { runPlayground } from "./operations";

export async function runPlaygroundAction(input: { teamId: string; linkId: string; sql: string }) {
  return runAction((user) => runPlayground(user, input));
}
