"use client";
import { APPROVAL_MODES } from "@portcullis/policy/scope";
import { cx, inputClass } from "../../components/ui";
import { APPROVAL_TEXT, mayWrite, type ApprovalMode, type ScopeDoc, type TableRule } from "./scope-doc";

/**
 * One table's own approval rule, which wins over the link's. Offered only where the table can be
 * written (write or admin access): the scope schema refuses approval on a read-only or hidden table.
 */
export function TableApproval({
  id,
  ruleKey,
  rule,
  scope,
  errors,
  onChange,
}: {
  id: string;
  ruleKey: string;
  rule: TableRule | undefined;
  scope: ScopeDoc;
  errors: { path: string; message: string }[];
  onChange: (rule: TableRule) => void;
}) {
  const access = rule?.access ?? scope.access;
  const approvalErrors = errors.filter((e) => e.path.endsWith(".approval") || e.path.endsWith('["approval"]'));
  if (!mayWrite(access)) {
    return (
      <div className="space-y-1 text-xs">
        <p className="text-zinc-500">Approval: this table is read-only on this link, so nothing on it is written.</p>
        {approvalErrors.map((e, i) => (
          <p key={i} className="text-red-600" role="alert">{e.message}</p>
        ))}
      </div>
    );
  }
  const inherited = scope.approval ? APPROVAL_TEXT[scope.approval].title.toLowerCase() : "none";
  const current = rule?.approval ?? "";
  return (
    <div className="space-y-1">
      <label htmlFor={`${id}-approval`} className="block text-xs font-medium text-zinc-800">Approval for writes to {ruleKey}</label>
      <select
        id={`${id}-approval`}
        className={cx(inputClass.replace("w-full", "w-64"), "py-0.5 text-xs")}
        value={current}
        aria-invalid={approvalErrors.length > 0}
        onChange={(e) => {
          const { approval: _previous, ...rest } = rule ?? {};
          onChange(e.target.value ? { ...rest, approval: e.target.value as ApprovalMode } : rest);
        }}
      >
        <option value="">Link default ({inherited})</option>
        {APPROVAL_MODES.map((m) => (
          <option key={m} value={m}>{APPROVAL_TEXT[m].title}</option>
        ))}
      </select>
      <p className="text-xs text-zinc-500">{current ? APPROVAL_TEXT[current].description : `Follows the link's rule: ${APPROVAL_TEXT[scope.approval ?? ""].description}`}</p>
      {approvalErrors.map((e, i) => (
        <p key={i} className="text-xs text-red-600" role="alert">{e.message}</p>
      ))}
    </div>
  );
}
