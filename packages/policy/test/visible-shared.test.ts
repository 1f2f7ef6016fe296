import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Catalog } from "../src/catalog/types.js";
import { parseScope, visibleObjects, type Scope } from "../src/scope/index.js";

const catalog = JSON.parse(readFileSync(new URL("./fixtures/chinook-catalog.json", import.meta.url), "utf8")) as Catalog;

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

const byKey = (s: Scope) => new Map(visibleObjects(s, catalog).relations.map((r) => [r.key, r]));
const column = (rels: Map<string, { columns: { name: string }[] }>, rel: string, name: string) => rels.get(rel)!.columns.find((c) => c.name === name);

describe("visible columns shared between scopes of one catalog", () => {
  const plain = byKey(scope({ access: "read" }));
  const other = byKey(scope({ access: "write", tables: { artist: { access: "none" } } }));
  const masked = byKey(scope({ access: "read", tables: { customer: { maskedColumns: { email: "email" } }, invoice: { hiddenColumns: ["total"] } } }));

  it("a plainly shown column is one object for every scope (a second link copies no columns)", () => {
    expect(column(other, "public.track", "name")).toBe(column(plain, "public.track", "name"));
    expect(column(masked, "public.customer", "first_name")).toBe(column(plain, "public.customer", "first_name"));
    // Same key and reference: same object; the reference survives sharing.
    const fk = column(plain, "public.track", "album_id") as { references?: string };
    expect(fk.references).toBe("public.album.album_id");
    expect(column(other, "public.track", "album_id")).toBe(fk);
  });

  it("a scope's mask, hidden column or hidden reference never shows through another scope's view", () => {
    const email = column(masked, "public.customer", "email") as { mask?: string };
    expect(email.mask).toBe("email");
    expect(column(plain, "public.customer", "email")).not.toHaveProperty("mask");
    expect(column(masked, "public.invoice", "total")).toBeUndefined();
    expect(column(plain, "public.invoice", "total")).toBeDefined();
    // artist hidden: album.artist_id references nothing for that scope, but still does for the other.
    expect(column(other, "public.album", "artist_id")).not.toHaveProperty("references");
    expect((column(plain, "public.album", "artist_id") as { references?: string }).references).toBe("public.artist.artist_id");
  });

  it("shared column views cannot be changed by a consumer", () => {
    const shared = column(plain, "public.track", "name") as { mask?: string };
    expect(() => {
      shared.mask = "redact";
    }).toThrow(TypeError);
    expect(column(other, "public.track", "name")).not.toHaveProperty("mask");
  });
});
