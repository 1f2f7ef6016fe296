/**
 * The text inside the one per-call <untrusted-data-UUID> boundary of a tool's or resource's text
 * (schema text and rows are the database's words, marked as data). Throws when there is none, so a
 * test that reads the inside also checks the boundary is there.
 */
export function insideBoundary(text: string): string {
  const open = /^<(untrusted-data-[0-9a-f-]{36})>$/m.exec(text);
  if (!open) throw new Error(`no untrusted-data boundary in: ${text.slice(0, 300)}`);
  const start = open.index + open[0].length + 1;
  const end = text.indexOf(`\n</${open[1]}>\n`, start - 1);
  if (end < 0) throw new Error("the untrusted-data boundary is not closed");
  return text.slice(start, end);
}
