import pg from "pg";
import { createApiKey } from "./operations.js";
import { GatewayWorld, auditEvents, type LinkFixture } from "./fixtures.js";

/**
 * A world for the confirmation tests: a link where genre may be written only once the caller confirms
 * (approval "confirm"), a second key of the same member on it, and the target's genre rows to count
 * what ran. Each test writes its own genre row: `name || '!'` once per run, so a second run shows.
 */
export interface ConfirmWorld {
  world: GatewayWorld;
  url: string;
  link: LinkFixture;
  /** Another key on the same link, same member. */
  otherKey: string;
}

export const CONFIRM_SCOPE = { access: "read", schemas: ["public"], tables: { genre: { access: "write", approval: "confirm" } } };
export const BUMP = "UPDATE genre SET name = name || '!' WHERE genre_id = $1";

export async function confirmWorld(overrides: Record<string, string> = {}): Promise<ConfirmWorld> {
  const world = await GatewayWorld.create();
  const { url } = await world.startGateway({ GATEWAY_RATE_LIMIT_PER_MINUTE: "10000", ...overrides });
  const link = await world.addLink(CONFIRM_SCOPE, undefined, url);
  const other = await createApiKey(world.prisma, { teamId: world.teamId, linkId: link.linkId, userId: world.userId, name: "second key" });
  return { world, url, link, otherKey: other.key };
}

export async function genreName(world: GatewayWorld, id: number): Promise<string> {
  const client = new pg.Client({ connectionString: world.target.url });
  await client.connect();
  try {
    return (await client.query<{ name: string }>("SELECT name FROM genre WHERE genre_id = $1", [id])).rows[0]!.name;
  } finally {
    await client.end();
  }
}

/** How many times BUMP ran on a row: the number of trailing '!'. */
export async function bumps(world: GatewayWorld, id: number): Promise<number> {
  return /!*$/.exec(await genreName(world, id))![0].length;
}

export async function writeRequestRow(world: GatewayWorld, id: string) {
  return world.prisma.writeRequest.findUnique({ where: { id } });
}

/** The audit events that carry a write request id, for one request (the chain request → execution). */
export async function chainOf(world: GatewayWorld, requestId: string) {
  const events = await auditEvents(world);
  return events.filter((e) => (e as { writeRequestId?: string }).writeRequestId === requestId);
}

/** The write requests of a link, newest first. */
export async function requestsOf(world: GatewayWorld, linkId: string) {
  return world.prisma.writeRequest.findMany({ where: { linkId }, orderBy: { createdAt: "desc" } });
}
