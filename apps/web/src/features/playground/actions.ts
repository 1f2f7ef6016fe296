"use server";
import { id, input, teamAction } from "../../lib/action";
import { playgroundSqlSchema, runPlayground } from "./operations";

const runInput = input({ teamId: id(), linkId: id(), sql: playgroundSqlSchema });

export const runPlaygroundAction = teamAction("member", runInput, (ctx, parsed) => runPlayground(ctx, parsed));
