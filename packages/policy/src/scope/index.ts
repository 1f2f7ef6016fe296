// Scope helpers without the SQL parser: safe to import from the dashboard (no wasm is loaded).
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
  APPROVAL_MODES,
  DEFAULT_APPROVAL_EXPIRY_MINUTES,
} from "./schema.js";
export type { Scope, ScopeInput, TableRule, AccessLevel, MaskKind, ApprovalMode, ScopeError, ParseScopeResult } from "./schema.js";
export { SCOPE_PRESETS, presetScope } from "./presets.js";
export type { PresetName, PresetOptions } from "./presets.js";
export { describeScope, summarizeScope } from "./describe.js";
export { describeGovernance, MASK_WORDS } from "./describe-governance.js";
export type { GovernanceWords, RowFilterWords, MaskedColumnWords } from "./describe-governance.js";
export { visibleObjects } from "./visible.js";
export { hiddenNames, redactHiddenMentions, withoutValues } from "./redact.js";
export type { HiddenNames } from "./redact.js";
export type { VisibleObjects, VisibleRelation, VisibleColumn } from "./visible.js";
export { searchPathFor, searchPathSchemas } from "./access.js";
export { approvalFor, DESTRUCTIVE_WORDS } from "./approval.js";
export type { ApprovalRequirement, ApprovalInput, WriteEffect, WriteCommand } from "./approval.js";
export { withGrants, canGrant, grantableTables, GrantError } from "./grants.js";
export type { AccessGrantInput } from "./grants.js";
export { scopeHash } from "./scope-hash.js";
