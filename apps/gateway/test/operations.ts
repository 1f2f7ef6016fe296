// Test fixtures create rows through the same shared operations the dashboard and CLI use.
export { addConnection, createApiKey, createLink, createTeam, createUser, revokeApiKey } from "@portcullis/db/operations";
import { parseTargetUrl } from "@portcullis/db/target";

export function parseTargetUrlForTests(url: string) {
  const { password, ...rest } = parseTargetUrl(url);
  return { ...rest, password, sslMode: "disable" as const };
}
