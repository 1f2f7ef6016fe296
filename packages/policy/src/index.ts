export {
  scopeSchema,
  parseScope,
  splitTableKey,
  isGoverned,
  ACCESS_LEVELS,
  DEFAULT_LIMITS,
  MASK_KINDS,
  ROW_FILTER_PLACEHOLDER,
  MEMBER_ATTRIBUTE_NAME,
  TABLE_KEY_PATTERN,
} from "./scope/schema.js";
export type { Scope, ScopeInput, TableRule, AccessLevel, MaskKind, ApprovalMode, ScopeError, ParseScopeResult } from "./scope/schema.js";
export { APPROVAL_MODES, DEFAULT_APPROVAL_EXPIRY_MINUTES } from "./scope/schema.js";
export { SCOPE_PRESETS, presetScope } from "./scope/presets.js";
export type { PresetName, PresetOptions } from "./scope/presets.js";
export { describeScope, summarizeScope } from "./scope/describe.js";
export { describeGovernance, MASK_WORDS } from "./scope/describe-governance.js";
export type { GovernanceWords, RowFilterWords, MaskedColumnWords } from "./scope/describe-governance.js";
export { visibleObjects } from "./scope/visible.js";
export { hiddenNames, redactHiddenMentions, withoutValues } from "./scope/redact.js";
export type { HiddenNames } from "./scope/redact.js";
export type { VisibleObjects, VisibleRelation, VisibleColumn } from "./scope/visible.js";
export { searchPathFor, searchPathSchemas, accessView, scopeHidesObjects } from "./scope/access.js";
export type { AccessView, RelationAccess, VisibleAccess } from "./scope/access.js";
export { loadCatalog } from "./catalog/load.js";
export { CatalogCache, catalogWeight } from "./catalog/cache.js";
export type { CatalogCacheOptions } from "./catalog/cache.js";
export type { Catalog, CatalogRelation, CatalogColumn, CatalogFunction, ForeignKey, RelationKind, Volatility } from "./catalog/types.js";
export { createPolicyChecker } from "./decide/checker.js";
export { approvalFor } from "./scope/approval.js";
export type { ApprovalRequirement, ApprovalInput, WriteEffect, WriteCommand } from "./scope/approval.js";
export { withGrants, canGrant, grantableTables, GrantError } from "./scope/grants.js";
export type { AccessGrantInput } from "./scope/grants.js";
export { policyReady } from "./parse/parse.js";
export type { Verdict, PolicyChecker, PolicyCheckerOptions } from "./decide/checker.js";
export type { StatementClass } from "./analyze/analyzer.js";
export { RULES, GATEWAY_RULES } from "./rules/rules.js";
export type { RuleId } from "./rules/rules.js";
export { bindRewriteParams, maskKeyFor } from "./rewrite/bind.js";
export type { RewriteBindings, BoundValue } from "./rewrite/bind.js";
export { ROW_FILTER_VIOLATION_MARKER } from "./rewrite/types.js";
export type { StatementRewrite, ParamSource } from "./rewrite/types.js";
export { validateScopeAgainstCatalog } from "./scope/row-filter.js";
export type { Governance } from "./scope/access.js";
export { maskExpression } from "./rewrite/masks.js";
export { rewriteStatement, rewriteStatements } from "./rewrite/apply.js";
export { namesFilterSecrets } from "./rewrite/explain-guard.js";
export { previewReturning } from "./rewrite/preview-returning.js";
export type { PreviewReturning } from "./rewrite/preview-returning.js";
export { replayScope } from "./replay.js";
export type { ReplayInput, ReplayReport, ReplayGroup, ReplayExample, ReplayStatement } from "./replay.js";
