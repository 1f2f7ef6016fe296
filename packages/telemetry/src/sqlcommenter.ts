/**
 * SQLCommenter (https://google.github.io/sqlcommenter/spec/): `/*key='value',…*\/` appended to an
 * executed statement so the database's own logs and pg_stat_activity name who ran it.
 *
 * Values are percent-encoded with everything outside [A-Za-z0-9-_.~] escaped (stricter than
 * encodeURIComponent, which leaves ! ' ( ) * alone): what lands inside the comment can then never close
 * it (`*\/`), end a quoted value (`'`), or start a line comment — whatever a value holds.
 */
const UNRESERVED = /[^A-Za-z0-9\-_.~]/g;

function encodeValue(value: string): string {
  return Buffer.from(value, "utf8").toString("latin1").replace(UNRESERVED, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

/** The comment for these tags (keys sorted, as the spec asks), or "" when there are none. */
export function sqlCommentFor(tags: Readonly<Record<string, string | null | undefined>>): string {
  const parts: string[] = [];
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key];
    if (value === undefined || value === null || value === "") continue;
    if (!/^[a-z][a-z0-9_]*$/.test(key)) throw new Error(`sqlcommenter key ${key} is not a plain identifier`);
    parts.push(`${key}='${encodeValue(value)}'`);
  }
  return parts.length ? `/*${parts.join(",")}*/` : "";
}

/** PORTCULLIS_SQLCOMMENTER=1 (or true/yes/on) turns the comments on; anything else leaves them off. */
export function sqlCommenterEnabled(value: string | undefined): boolean {
  return ["1", "true", "yes", "on"].includes((value ?? "").trim().toLowerCase());
}
