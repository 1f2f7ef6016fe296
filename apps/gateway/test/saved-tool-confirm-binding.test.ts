import { generateSecretKey, getKeyring } from "@portcullis/db/secrets";
import { parseScope } from "@portcullis/policy";
import { describe, expect, test } from "vitest";
import type { LinkRecord, SavedToolRecord } from "../src/context.js";
import { confirmedCall } from "../src/mcp/confirm-flow.js";
import { RequestStateCodec, statementHashOf } from "../src/mcp/confirmation.js";

/**
 * What a confirmation binds to (issue 17: saved tools confirm their writes too), on hand-built link
 * records: the statement named by a call's tool and arguments, and the tool claim in the signed state.
 */

// The connection the fixtures' tools were saved on (saved tools run only on their database's connection).
const CONNECTION = crypto.randomUUID();

function link(extra: Partial<LinkRecord> = {}): LinkRecord {
  const parsed = parseScope({ access: "read", tables: { genre: { access: "write", approval: "confirm" } } });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return { id: crypto.randomUUID(), teamId: crypto.randomUUID(), name: "fixture", status: "active", scope: parsed.scope, connection: { id: CONNECTION } as LinkRecord["connection"], ...extra };
}

function tool(name: string, sql: string, parameters: SavedToolRecord["parameters"]): SavedToolRecord {
  return Object.freeze({ id: crypto.randomUUID(), name, title: null, description: name, sql, parameters, databaseName: null, connectionId: CONNECTION });
}

const RENAME = "UPDATE genre SET name = $2 WHERE genre_id = $1";
const rename = tool("rename_genre", RENAME, [
  { name: "id", type: "integer", description: "", required: true },
  { name: "name", type: "string", description: "", required: false, default: "Unnamed" },
]);

describe("confirmedCall", () => {
  test("execute_sql: its own sql and params, hashed exactly as before saved tools", () => {
    const args = { sql: "DELETE FROM genre WHERE genre_id = $1", params: [7], database: "x" };
    const call = confirmedCall(link(), "execute_sql", args)!;
    expect(call).toEqual({ tool: "execute_sql", sql: args.sql, params: [7] });
    expect(statementHashOf(call)).toBe(statementHashOf(args));
  });

  test("a saved tool: its text with the arguments bound in placeholder order, defaults applied; arguments it does not take refused", () => {
    const l = link({ savedTools: [rename] });
    expect(confirmedCall(l, "rename_genre", { id: 3, name: "Jazz" })).toEqual({ tool: "rename_genre", sql: RENAME, params: [3, "Jazz"] });
    expect(confirmedCall(l, "rename_genre", { id: 3 })).toEqual({ tool: "rename_genre", sql: RENAME, params: [3, "Unnamed"] });
    // Its input is strict (a misspelt argument must not run with the default): a caller's sql is no
    // argument of the tool, so nothing is confirmed.
    expect(confirmedCall(l, "rename_genre", { id: 3, sql: "DROP TABLE genre", params: [1] })).toBeNull();
    // The same statement through execute_sql hashes alike: the tool claim, not the hash, tells them apart.
    expect(statementHashOf(confirmedCall(l, "rename_genre", { id: 3, name: "Jazz" }))).toBe(statementHashOf({ sql: RENAME, params: [3, "Jazz"] }));
  });

  test("nothing to confirm: arguments the tool does not take, another link's tool, other built-ins, a hidden execute_sql, a saved record named like a built-in", () => {
    const l = link({ savedTools: [rename, tool("get_schema", RENAME, [])] });
    expect(confirmedCall(l, "rename_genre", { id: "3" })).toBeNull();
    expect(confirmedCall(l, "rename_genre", {})).toBeNull();
    expect(confirmedCall(link(), "rename_genre", { id: 3 })).toBeNull();
    expect(confirmedCall(l, "get_schema", {})).toBeNull();
    expect(confirmedCall(l, "explain_query", { sql: RENAME })).toBeNull();
    expect(confirmedCall(link({ disabledTools: ["execute_sql"] }), "execute_sql", { sql: RENAME, params: [1, "x"] })).toBeNull();
  });

  test("a tool whose database now has another connection (or was never bound) confirms nothing", () => {
    const moved = link({ savedTools: [rename], connection: { id: crypto.randomUUID() } as LinkRecord["connection"] });
    expect(confirmedCall(moved, "rename_genre", { id: 3, name: "Jazz" })).toBeNull();
    expect(confirmedCall(link({ savedTools: [{ ...rename, connectionId: null }] }), "rename_genre", { id: 3, name: "Jazz" })).toBeNull();
  });
});

describe("the tool claim in the requestState", () => {
  const codec = new RequestStateCodec(getKeyring(generateSecretKey("k1")));
  const binding = { requestId: "wr_1", teamId: "t1", linkId: "l1", subject: "key_a", statementHash: statementHashOf({ sql: RENAME, params: [3, "Jazz"] }) };

  test("signed with the rest: verified as minted, and an edited tool name is a forgery", () => {
    const { token, claims } = codec.mint({ ...binding, tool: "rename_genre" }, Date.now() + 60_000);
    expect(claims.tool).toBe("rename_genre");
    expect(codec.verify(token)).toEqual({ ok: true, claims });
    const [prefix, keyId, , signature] = token.split(".") as [string, string, string, string];
    const edited = Buffer.from(JSON.stringify({ ...claims, tool: "bump_genre" })).toString("base64url");
    expect(codec.verify([prefix, keyId, edited, signature].join("."))).toEqual({ ok: false, reason: "forged" });
  });

  test("a state without it (execute_sql's, minted before) still verifies; one naming no possible tool does not", () => {
    const { token, claims } = codec.mint(binding, Date.now() + 60_000);
    expect(claims).not.toHaveProperty("tool");
    expect(codec.verify(token)).toEqual({ ok: true, claims });
    expect(codec.verify(codec.mint({ ...binding, tool: "Not A Tool" }, Date.now() + 60_000).token)).toEqual({ ok: false, reason: "malformed" });
  });
});
