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

/**
 * On a statement over a table with a row filter or masks (issue 14), the planner's numbers describe the
 * whole table: `rows=59` over a filtered customer table says how many customers exist, "Rows Removed by
 * Filter: 46" how many the member may not see, costs and buffer counts the table's size. Every such
 * number in the plan is replaced, in each format; the plan's shape, node types and conditions (our
 * filter shows with its `$n`, never a value) stay.
 */
const ESTIMATE_FIELDS =
  "Plan Rows|Plan Width|Startup Cost|Total Cost|Actual Rows|Actual Startup Time|Actual Total Time|Rows Removed by [A-Za-z ]+?|Heap Fetches|Exact Heap Blocks|Lossy Heap Blocks|(?:Shared|Local|Temp) (?:Hit|Read|Dirtied|Written) Blocks|Peak Memory Usage|Sort Space Used|Original Hash Batches|Hash Batches|Hash Buckets|Original Hash Buckets";

const ESTIMATE_PATTERNS: [RegExp, string][] = [
  // TEXT: "(cost=0.00..1.59 rows=59 width=72) (actual time=0.010..0.020 rows=13 loops=1)"
  [/\bcost=\d+(?:\.\d+)?\.\.\d+(?:\.\d+)?/g, "cost=?"],
  [/\b(rows|width)=\d+/g, "$1=?"],
  [/\btime=\d+(?:\.\d+)?\.\.\d+(?:\.\d+)?/g, "time=?"],
  // TEXT: "Rows Removed by Filter: 46", "Heap Fetches: 3", "Buffers: shared hit=4 read=1", "Heap Blocks: exact=2"
  [/(\bRows Removed by [A-Za-z ]+?: )\d+/g, "$1?"],
  [/(\b(?:Heap Fetches|Memory Usage|Peak Memory Usage|Batches|Buckets): )\d+\w*/g, "$1?"],
  [/(\b(?:Buffers|Heap Blocks|I\/O Timings):)[^\n"]*/g, "$1 ?"],
  [/(\bMemory: )\d+\w*/g, "$1?"],
  // JSON: "Plan Rows": 59
  [new RegExp(`("(?:${ESTIMATE_FIELDS})":\\s*)-?\\d+(?:\\.\\d+)?`, "g"), "$1null"],
  // YAML: Plan Rows: 59
  [new RegExp(`(^|\\n)(\\s*-?\\s*(?:${ESTIMATE_FIELDS}): )-?\\d+(?:\\.\\d+)?`, "g"), "$1$2null"],
  // XML: <Plan-Rows>59</Plan-Rows>
  [new RegExp(`(<(${ESTIMATE_FIELDS.replace(/ /g, "-")})>)[^<]*(</\\2>)`, "g"), "$1$3"],
];

export function redactPlanEstimates(text: string): string {
  let out = text;
  for (const [pattern, replacement] of ESTIMATE_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A value bound to a rewritten statement that the plan may print folded in, and the `$n` it stands for. */
export interface BoundConstant {
  param: string;
  value: string | readonly string[];
}

// array_out's quoting: empty, NULL, or any of `"\{},` or white space (as isspace sees it).
const NEEDS_QUOTES = /^$|^null$|["\\{},\s]/i;

/** How PostgreSQL prints a text array value (array_out), which is how EXPLAIN shows a folded array parameter. */
export function arrayText(values: readonly string[]): string {
  return `{${values.map((v) => (NEEDS_QUOTES.test(v) ? `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"` : v)).join(",")}}`;
}

/**
 * PostgreSQL folds bound parameters into an EXPLAIN's plan: the virtual catalog's constants (the oids
 * of hidden objects, hidden columns' positions) would print as literals. Each is put back as its `$n`.
 */
function replaceConstants(text: string, constants: readonly BoundConstant[]): string {
  let out = text;
  for (const c of constants) {
    const literal = typeof c.value === "string" ? c.value : arrayText(c.value);
    out = out.split(`'${literal.replace(/'/g, "''")}'`).join(c.param);
  }
  return out;
}

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === "string") return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  return value;
}

/** Rows are JSON arrays of one string; redact inside the string and re-serialise. */
export function redactPlanRows(rowsJson: string[], options: { estimates?: boolean; constants?: readonly BoundConstant[] } = {}): string[] {
  const constants = options.constants ?? [];
  const redact = (text: string) => {
    const named = redactPlanIndexNames(text);
    return options.estimates ? redactPlanEstimates(named) : named;
  };
  return rowsJson.map((row) => {
    const [value] = JSON.parse(row) as [unknown];
    if (typeof value === "string") return JSON.stringify([redact(replaceConstants(value, constants))]);
    // FORMAT JSON arrives as a json value: constants in its strings, the rest on its text form.
    const plain = constants.length ? mapStrings(value, (s) => replaceConstants(s, constants)) : value;
    return JSON.stringify([JSON.parse(redact(JSON.stringify(plain)))]);
  });
}
