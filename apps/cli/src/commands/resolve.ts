import { PortcullisError } from "@portcullis/db/errors";
import { isUuid } from "@portcullis/db/operations";
import { db } from "../context.js";

/** Finds a team's connection or link by id or by name. */
export async function findConnection(teamId: string, idOrName: string) {
  const row = await db().connection.findFirst({
    where: { teamId, ...(isUuid(idOrName) ? { OR: [{ id: idOrName }, { name: idOrName }] } : { name: idOrName }) },
  });
  if (!row) throw new PortcullisError("not_found", `no connection "${idOrName}" in this team`);
  return row;
}

export async function findLink(teamId: string, idOrName: string) {
  const row = await db().link.findFirst({
    where: { teamId, ...(isUuid(idOrName) ? { OR: [{ id: idOrName }, { name: idOrName }] } : { name: idOrName }) },
  });
  if (!row) throw new PortcullisError("not_found", `no link "${idOrName}" in this team`);
  return row;
}

/** "30d", "12h", "90m" → a Date that far in the future. */
export function parseDuration(spec: string): Date {
  const match = /^(\d+)\s*([mhdw])$/.exec(spec.trim());
  if (!match) throw new PortcullisError("invalid_input", `"${spec}" is not a duration like 90m, 12h, 30d or 4w`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as "m" | "h" | "d" | "w"];
  return new Date(Date.now() + Number(match[1]) * unit);
}
