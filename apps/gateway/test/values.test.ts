import { describe, expect, test } from "vitest";
import { converterFor, encodeParam, jsonEncoderFor, parseArray } from "../src/execution/values.js";

describe("type-faithful values", () => {
  test("exact numbers stay strings; small integers and floats are numbers", () => {
    expect(converterFor(20)("9007199254740993")).toBe("9007199254740993");
    expect(converterFor(1700)("1.10")).toBe("1.10");
    expect(converterFor(23)("42")).toBe(42);
    expect(converterFor(701)("2.5")).toBe(2.5);
    expect(converterFor(701)("Infinity")).toBe("Infinity");
    expect(converterFor(701)("NaN")).toBe("NaN");
  });

  test("timestamps become ISO-8601 with full precision", () => {
    expect(converterFor(1184)("2024-05-06 07:08:09.123456+00")).toBe("2024-05-06T07:08:09.123456+00:00");
    expect(converterFor(1184)("2024-05-06 07:08:09+05:30")).toBe("2024-05-06T07:08:09+05:30");
    expect(converterFor(1184)("infinity")).toBe("infinity");
    expect(converterFor(1114)("2024-05-06 07:08:09")).toBe("2024-05-06T07:08:09");
    expect(converterFor(1082)("2024-05-06")).toBe("2024-05-06");
  });

  test("bytea as base64, json parsed, bool", () => {
    expect(converterFor(17)("\\x00ff10")).toBe("AP8Q");
    expect(converterFor(3802)('{"a":[1,"x"]}')).toEqual({ a: [1, "x"] });
    expect(converterFor(16)("t")).toBe(true);
    expect(converterFor(16)("f")).toBe(false);
  });

  test("arrays: quoting, NULL, nesting, element types, bounds", () => {
    expect(converterFor(1007)("{1,2,NULL}")).toEqual([1, 2, null]);
    expect(converterFor(1009)('{"a b","c\\"d",NULL,"NULL"}')).toEqual(["a b", 'c"d', null, "NULL"]);
    expect(converterFor(1007)("{{1,2},{3,4}}")).toEqual([[1, 2], [3, 4]]);
    expect(converterFor(1016)("{9007199254740993}")).toEqual(["9007199254740993"]);
    expect(converterFor(1001)('{"\\\\x00ff"}')).toEqual(["AP8="]);
    expect(converterFor(1007)("[0:1]={5,6}")).toEqual([5, 6]);
    expect(converterFor(1007)("{}")).toEqual([]);
    expect(parseArray("{broken", (t) => t)).toBe("{broken");
  });

  test("unknown types are kept as PostgreSQL's text", () => {
    expect(converterFor(1186)("1 day 02:00:00")).toBe("1 day 02:00:00");
    expect(converterFor(2950)("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  });

  test("parameters: JSON values to text binds", () => {
    expect(encodeParam(null)).toBeNull();
    expect(encodeParam(3)).toBe("3");
    expect(encodeParam(true)).toBe("true");
    expect(encodeParam([1, "a,b", null, 'q"'])).toBe('{"1","a,b",NULL,"q\\""}');
    expect(encodeParam({ k: 1 })).toBe('{"k":1}');
  });

  test("a value's JSON text is exactly the JSON of its converted value, for every kind of column", () => {
    const samples: [number, string[]][] = [
      [21, ["0", "-32768", "32767"]],
      [23, ["0", "42", "-2147483648", "2147483647"]],
      [26, ["0", "4294967295"]],
      [20, ["9007199254740993", "-1"]],
      [1700, ["1.10", "NaN", "-0.000001"]],
      [700, ["2.5", "Infinity", "-Infinity", "NaN", "1e+20", "-0"]],
      [701, ["1.7976931348623157e+308", "5e-324", "0.1"]],
      [16, ["t", "f"]],
      [17, ["\\x00ff10", "\\x"]],
      [114, ['{"a": [1, "x"], "b": null}', "3", '"s"']],
      [3802, ['{"a": [1, "x"]}']],
      [1184, ["2024-05-06 07:08:09.123456+00", "infinity"]],
      [1114, ["2024-05-06 07:08:09"]],
      [1082, ["2024-05-06"]],
      [1007, ["{1,2,NULL}", "{{1,2},{3,4}}", "{broken"]],
      [1009, ['{"a b","c\\"d",NULL,"NULL"}']],
      [25, ["plain", 'quote " backslash \\ newline \n tab \t', "\u2028\u2029 ü 😀 \u0000 \u001f", "</script>"]],
      [1043, [""]],
      [99999, ["unknown type text"]],
    ];
    for (const [oid, texts] of samples) {
      for (const text of texts) {
        const json = jsonEncoderFor(oid)(text);
        expect(json, `oid ${oid} ${text}`).toBe(JSON.stringify(converterFor(oid)(text)));
        expect(() => JSON.parse(json)).not.toThrow();
      }
    }
  });
});
