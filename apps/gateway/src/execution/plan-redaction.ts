/**
 * EXPLAIN output names indexes, and index names are free text chosen by whoever created them:
 * "Index Scan using customer_email_idx on customer" tells a link that hides customer.email that the
 * column exists. The policy allows EXPLAIN of permitted reads (and refuses VERBOSE, which lists
 * output columns), so on links that hide anything the gateway replaces every index name in the plan
 * with a neutral word, in each of EXPLAIN's formats. The plan's shape and costs stay intact.
 */
const PLACEHOLDER = "<index>";

const PATTERNS: [RegExp, string][] = [
  // TEXT: "Index Scan using name on t", "Index Only Scan Backward using name on t"
  [/(\bScan(?: Backward)? using )("(?:[^"]|"")+"|\S+)/g, `$1${PLACEHOLDER}`],
  // TEXT: "Bitmap Index Scan on name"
  [/(\bBitmap Index Scan on )("(?:[^"]|"")+"|\S+)/g, `$1${PLACEHOLDER}`],
  // JSON: "Index Name": "name"
  [/("Index Name":\s*)"(?:[^"\\]|\\.)*"/g, `$1"${PLACEHOLDER}"`],
  // YAML: Index Name: "name" (or bare)
  [/(\bIndex Name:\s*)("(?:[^"]|"")*"|\S+)/g, `$1"${PLACEHOLDER}"`],
  // XML: <Index-Name>name</Index-Name>
  [/(<Index-Name>)[^<]*(<\/Index-Name>)/g, `$1${PLACEHOLDER}$2`],
];

export function redactPlanIndexNames(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** An EXPLAIN result: one column named "QUERY PLAN" (whatever the format). */
export function isPlanResult(columns: { name: string }[]): boolean {
  return columns.length === 1 && columns[0]!.name === "QUERY PLAN";
}

/** Rows are JSON arrays of one string; redact inside the string and re-serialise. */
export function redactPlanRows(rowsJson: string[]): string[] {
  return rowsJson.map((row) => {
    const [value] = JSON.parse(row) as [unknown];
    if (typeof value === "string") return JSON.stringify([redactPlanIndexNames(value)]);
    // FORMAT JSON arrives as a json value: redact its text form.
    return JSON.stringify([JSON.parse(redactPlanIndexNames(JSON.stringify(value)))]);
  });
}
