"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { id, input, teamAction, userAction } from "../../lib/action";
import { MEMBER_ATTRIBUTE_NAME } from "@portcullis/policy/scope";
import * as governance from "./governance";
import * as attributes from "./member-attributes";
import * as ops from "./operations";
import { setApprovers } from "./approvers";
import { REPLAY_DAYS, replayDraftScope } from "./replay";
import { catalogErrors } from "./scope-check";
import { databaseNameSchema } from "@portcullis/db/operations";
import * as databases from "./link-databases";
import { disabledToolsSchema, savedToolSchema } from "@portcullis/db/operations";
import * as tools from "./link-tools";

/** A scope document is checked by policy's own parser; here it only has to be a JSON object. */
const scopeDocument = z.unknown().refine((v) => typeof v === "object" && v !== null && !Array.isArray(v), "a scope document is a JSON object");

const tablesInput = input({ teamId: id(), connectionId: id() });
const validateInput = input({ scope: z.unknown() });
const createInput = input({ teamId: id(), connectionId: id(), name: ops.linkNameSchema, scope: scopeDocument });
const updateInput = input({
  teamId: id(),
  linkId: id(),
  name: ops.linkNameSchema.optional(),
  scope: scopeDocument.optional(),
  status: z.enum(["active", "disabled"]).optional(),
});
const deleteInput = input({ teamId: id(), linkId: id() });
const accessInput = input({ teamId: id(), linkId: id(), userId: id(), granted: z.boolean() });
const tableName = z.string().min(1).max(200, "a table key is schema.table, at most 200 characters");
const checkInput = input({ teamId: id(), connectionId: id(), scope: scopeDocument });
const previewInput = input({ teamId: id(), linkId: id(), scope: scopeDocument, table: tableName, userId: id() });
const sampleInput = input({ teamId: id(), linkId: id(), scope: scopeDocument, table: tableName, column: z.string().min(1).max(63), userId: id() });
const attributeName = z.string().regex(MEMBER_ATTRIBUTE_NAME, "attribute names are lower-case letters, digits and _, starting with a letter, at most 63 characters");
// The db operation checks the byte length (1 KB) and well-formedness; this bounds what is parsed at all.
const attributeValue = z.string().max(1024, "attribute values are at most 1024 bytes");
const setAttributeInput = input({ teamId: id(), linkId: id(), userId: id(), name: attributeName, value: attributeValue });
const unsetAttributeInput = input({ teamId: id(), linkId: id(), userId: id(), name: attributeName });
const replayInput = input({ teamId: id(), linkId: id(), scope: scopeDocument, days: z.union(REPLAY_DAYS.map((d) => z.literal(d))) });
// The db operation bounds the list (LINK_APPROVERS_MAX = 100) too; this bounds what is parsed at all.
const approversInput = input({ teamId: id(), linkId: id(), userIds: z.array(id()).max(100, "at most 100 approvers per link") });

const addDatabaseInput = input({ teamId: id(), linkId: id(), name: databaseNameSchema, connectionId: id(), scope: scopeDocument });
const updateDatabaseInput = input({ teamId: id(), linkId: id(), name: databaseNameSchema, newName: databaseNameSchema.optional(), scope: scopeDocument.optional() });
const removeDatabaseInput = input({ teamId: id(), linkId: id(), name: databaseNameSchema });

const saveToolInput = savedToolSchema.extend({ teamId: id(), linkId: id(), toolId: id().optional() });
const deleteToolInput = input({ teamId: id(), linkId: id(), toolId: id() });
const builtInToolsInput = input({ teamId: id(), linkId: id(), disabledTools: disabledToolsSchema });
const tryToolInput = input({ teamId: id(), linkId: id(), toolId: id(), arguments: tools.toolArgumentsSchema });

export const connectionTablesAction = teamAction("admin", tablesInput, (ctx, parsed) => ops.connectionTables(ctx, parsed));

export const validateScopeAction = userAction(validateInput, async (_ctx, parsed) => ops.validateScopeDocument(parsed.scope));

export const createLinkAction = teamAction("admin", createInput, async (ctx, parsed) => {
  const result = await ops.createLinkForTeam(ctx, parsed);
  revalidatePath("/t/[slug]/links", "page");
  return result;
});

export const updateLinkAction = teamAction("admin", updateInput, async (ctx, parsed) => {
  await ops.updateLink(ctx, parsed);
  revalidatePath("/t/[slug]/links", "layout");
});

export const deleteLinkAction = teamAction("admin", deleteInput, async (ctx, parsed) => {
  await ops.deleteLink(ctx, parsed);
  revalidatePath("/t/[slug]/links", "page");
});

export const setLinkAccessAction = teamAction("admin", accessInput, async (ctx, parsed) => {
  await ops.setLinkAccess(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
});

/** Row filters and masks checked against the connection's catalog, on demand (the save checks again). */
export const checkScopeAction = teamAction("admin", checkInput, async (ctx, parsed) => {
  const connection = await ops.teamConnection(ctx, parsed.connectionId);
  const scope = ops.validateScopeDocument(parsed.scope);
  if (!scope.ok) return scope;
  const errors = await catalogErrors(scope.scope, connection);
  return errors.length ? { ok: false as const, errors } : scope;
});

export const previewRowFilterAction = teamAction("admin", previewInput, (ctx, parsed) => governance.previewRowFilter(ctx, parsed));

export const sampleMaskAction = teamAction("admin", sampleInput, (ctx, parsed) => governance.sampleMasked(ctx, parsed));

export const setMemberAttributeAction = teamAction("admin", setAttributeInput, async (ctx, parsed) => {
  const result = await attributes.setMemberAttribute(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
  return result.attributes;
});

export const unsetMemberAttributeAction = teamAction("admin", unsetAttributeInput, async (ctx, parsed) => {
  const result = await attributes.unsetMemberAttribute(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
  return result.attributes;
});

/** The draft scope against the link's audited statements of the last 1, 7 or 30 days (nothing is saved). */
export const replayScopeAction = teamAction("admin", replayInput, (ctx, parsed) => replayDraftScope(ctx, parsed));

export const setLinkApproversAction = teamAction("admin", approversInput, async (ctx, parsed) => {
  const approvers = await setApprovers(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
  return approvers.map((a) => a.userId);
});

export const addLinkDatabaseAction = teamAction("admin", addDatabaseInput, async (ctx, parsed) => {
  const result = await databases.addDatabaseToLink(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
  return result;
});

export const updateLinkDatabaseAction = teamAction("admin", updateDatabaseInput, async (ctx, parsed) => {
  const result = await databases.updateDatabaseOfLink(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
  return result;
});

export const removeLinkDatabaseAction = teamAction("admin", removeDatabaseInput, async (ctx, parsed) => {
  await databases.removeDatabaseFromLink(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
});

export const saveLinkToolAction = teamAction("admin", saveToolInput, async (ctx, parsed) => {
  const { teamId: _team, linkId, toolId, ...tool } = parsed;
  const result = await tools.saveLinkTool(ctx, { linkId, ...(toolId ? { toolId } : {}), tool });
  revalidatePath("/t/[slug]/links/[id]", "page");
  return result;
});

export const deleteLinkToolAction = teamAction("admin", deleteToolInput, async (ctx, parsed) => {
  await tools.removeLinkTool(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
});

export const setLinkBuiltInToolsAction = teamAction("admin", builtInToolsInput, async (ctx, parsed) => {
  const stored = await tools.setBuiltInTools(ctx, parsed);
  revalidatePath("/t/[slug]/links/[id]", "page");
  return stored;
});

/** A saved tool called by its name through the gateway's Playground path as the caller (members who may use the link too). */
export const tryLinkToolAction = teamAction("member", tryToolInput, (ctx, parsed) => tools.tryLinkTool(ctx, parsed));
