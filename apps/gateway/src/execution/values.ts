/**
 * Type-faithful JSON from PostgreSQL's text output. Values stay exact: int8, numeric and money are
 * strings (a JavaScript number would round them), timestamps become ISO-8601 with their full
 * precision, bytea is base64, json/jsonb and arrays stay structured. The session is pinned to
 * DateStyle=ISO, IntervalStyle=postgres, TimeZone=UTC, bytea_output=hex, so the text forms parsed here
 * are the ones PostgreSQL produces.
 */
type Converter = (text: string) => unknown;

const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  numeric: 1700,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  jsonb: 3802,
} as const;

const asString: Converter = (t) => t;
const asInt: Converter = (t) => Number(t);
const asFloat: Converter = (t) => {
  const n = Number(t);
  return Number.isFinite(n) ? n : t; // NaN / Infinity / -Infinity have no JSON number
};
const asBool: Converter = (t) => t === "t";
const asJson: Converter = (t) => JSON.parse(t);
const asBytea: Converter = (t) => (t.startsWith("\\x") ? Buffer.from(t.slice(2), "hex").toString("base64") : Buffer.from(t, "latin1").toString("base64"));

const TIMESTAMPTZ = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::(\d\d))?(?::(\d\d))?$/;
const asTimestamptz: Converter = (t) => {
  const m = TIMESTAMPTZ.exec(t);
  if (!m) return t; // infinity, -infinity, BC dates: kept as PostgreSQL wrote them
  return `${m[1]}T${m[2]}${m[3]}:${m[4] ?? "00"}${m[5] ? `:${m[5]}` : ""}`;
};
const TIMESTAMP = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)$/;
const asTimestamp: Converter = (t) => {
  const m = TIMESTAMP.exec(t);
  return m ? `${m[1]}T${m[2]}` : t;
};

const SCALARS = new Map<number, Converter>([
  [OID.bool, asBool],
  [OID.bytea, asBytea],
  [OID.int2, asInt],
  [OID.int4, asInt],
  [OID.oid, asInt],
  [OID.float4, asFloat],
  [OID.float8, asFloat],
  [OID.json, asJson],
  [OID.jsonb, asJson],
  [OID.timestamp, asTimestamp],
  [OID.timestamptz, asTimestamptz],
]);

/** Array type oid -> element type oid, for the built-in array types. */
const ARRAYS = new Map<number, number>([
  [1000, OID.bool],
  [1001, OID.bytea],
  [1005, OID.int2],
  [1007, OID.int4],
  [1016, OID.int8],
  [1028, OID.oid],
  [1009, 25],
  [1015, 1043],
  [1014, 1042],
  [1002, 18],
  [1003, 19],
  [1021, OID.float4],
  [1022, OID.float8],
  [1231, OID.numeric],
  [1182, OID.date],
  [1115, OID.timestamp],
  [1185, OID.timestamptz],
  [1183, 1083],
  [1187, 1186],
  [199, OID.json],
  [3807, OID.jsonb],
  [2951, 2950],
  [1041, 869],
  [651, 650],
]);

export function converterFor(typeOid: number): Converter {
  const scalar = SCALARS.get(typeOid);
  if (scalar) return scalar;
  const element = ARRAYS.get(typeOid);
  if (element !== undefined) {
    const inner = SCALARS.get(element) ?? asString;
    // bytea elements arrive quoted and escaped like any other; parseArray unescapes them first.
    return (t) => parseArray(t, inner);
  }
  return asString;
}

/** A column's value as JSON text, straight from PostgreSQL's text output. */
export type JsonEncoder = (text: string) => string;

const INTEGER_OIDS = new Set<number>([OID.int2, OID.int4, OID.oid]);
const stringJson: JsonEncoder = (t) => JSON.stringify(t);
// int2/int4/oid text out of PostgreSQL is already a canonical JSON integer (optional '-', digits, no
// leading zeros): the text itself is the JSON. A row was otherwise built as an array of converted
// values and serialized whole; writing each field's JSON measured ~30% less CPU per row.
const integerJson: JsonEncoder = (t) => t;
const boolJson: JsonEncoder = (t) => (t === "t" ? "true" : "false");

/** JSON text of a value, exactly JSON.stringify(converterFor(typeOid)(text)). */
export function jsonEncoderFor(typeOid: number): JsonEncoder {
  if (INTEGER_OIDS.has(typeOid)) return integerJson;
  if (typeOid === OID.bool) return boolJson;
  const convert = converterFor(typeOid);
  if (convert === asString) return stringJson;
  return (t) => JSON.stringify(convert(t));
}

/** Parses PostgreSQL's array text form ({a,"b c",NULL,{1,2}}), including dimension decorations. */
export function parseArray(text: string, convert: Converter): unknown {
  let i = 0;
  if (text[0] === "[") {
    // Explicit bounds: "[0:2]={1,2,3}" — the values are what matters.
    const eq = text.indexOf("=");
    if (eq > 0) i = eq + 1;
  }
  const parse = (): unknown[] => {
    const out: unknown[] = [];
    if (text[i] !== "{") throw new Error("malformed array");
    i++;
    if (text[i] === "}") {
      i++;
      return out;
    }
    for (;;) {
      const ch = text[i];
      if (ch === "{") out.push(parse());
      else if (ch === '"') {
        i++;
        let value = "";
        while (i < text.length && text[i] !== '"') {
          if (text[i] === "\\") i++;
          value += text[i];
          i++;
        }
        i++;
        out.push(convert(value));
      } else {
        let end = i;
        while (end < text.length && text[end] !== "," && text[end] !== "}") end++;
        const raw = text.slice(i, end);
        i = end;
        out.push(raw === "NULL" ? null : convert(raw));
      }
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return out;
      }
      throw new Error("malformed array");
    }
  };
  try {
    return parse();
  } catch {
    return text;
  }
}

/** Encodes a JSON parameter for a text-format bind: strings as is, arrays as array literals, objects as JSON. */
export function encodeParam(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (Array.isArray(value)) return encodeArray(value);
  return JSON.stringify(value);
}

function encodeArray(values: unknown[]): string {
  const parts = values.map((v) => {
    if (v === null || v === undefined) return "NULL";
    if (Array.isArray(v)) return encodeArray(v);
    const text = typeof v === "object" ? JSON.stringify(v) : String(v);
    return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  });
  return `{${parts.join(",")}}`;
}
