import { describe, expect, test } from "vitest";
import { isMetadataUnavailable } from "../src/http/unavailable.js";

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });

describe("which metadata failures are a 503 (retry) rather than a 500", () => {
  test.each([
    ["starting up (crash recovery)", withCode("57P03", "the database system is starting up")],
    ["terminated by a shutdown", withCode("57P01", "terminating connection due to administrator command")],
    ["connection failure", withCode("08006")],
    ["too many connections", withCode("53300", "sorry, too many clients already")],
    ["refused", withCode("ECONNREFUSED")],
    ["reset", withCode("ECONNRESET")],
    ["pg: terminated", new Error("Connection terminated unexpectedly")],
    ["pg-pool: connect timeout", new Error("timeout exceeded when trying to connect")],
    ["pg: query timeout", new Error("Query read timeout")],
    ["a name with two addresses, both refused", Object.assign(new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")]), { code: "" })],
  ])("%s: unavailable", (_, error) => expect(isMetadataUnavailable(error)).toBe(true));

  test.each([
    ["a missing table (a bug or a missing migration)", withCode("42P01", 'relation "links" does not exist')],
    ["a syntax error", withCode("42601")],
    ["a programming error", new TypeError("Cannot read properties of undefined")],
    ["not an error", "ECONNREFUSED"],
    ["nothing", undefined],
  ])("%s: not unavailable", (_, error) => expect(isMetadataUnavailable(error)).toBe(false));
});
