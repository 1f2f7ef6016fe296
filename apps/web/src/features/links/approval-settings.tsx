"use client";
import { APPROVAL_MODES, DEFAULT_APPROVAL_EXPIRY_MINUTES } from "@portcullis/policy/scope";
import { Input, cx } from "../../components/ui";
import { APPROVAL_TEXT, withApprovalOptions, type ApprovalMode, type ScopeDoc } from "./scope-doc";

type FieldError = { path: string; message: string };

/** Errors of one scope path (policy writes `approval`, `approvalOptions.expiresAfterMinutes`, …). */
export function errorsAt(errors: FieldError[], path: string): FieldError[] {
  return errors.filter((e) => e.path === path || e.path.startsWith(`${path}.`) || e.path.startsWith(`${path}[`));
}

/**
 * The link-level approval rule and the options every request of the link follows. A table's own
 * rule (in its panel) wins over this one; the gateway, not this form, decides what each write needs.
 */
export function ApprovalSettings({ value, onChange, errors }: { value: ScopeDoc; onChange: (scope: ScopeDoc) => void; errors: FieldError[] }) {
  const options = value.approvalOptions ?? { selfApproval: false, expiresAfterMinutes: DEFAULT_APPROVAL_EXPIRY_MINUTES };
  const expiryErrors = errorsAt(errors, "approvalOptions.expiresAfterMinutes");
  const approvalErrors = errorsAt(errors, "approval");
  return (
    <fieldset className="space-y-3" aria-describedby="approval-help">
      <legend className="text-sm font-medium text-zinc-800">Approval of writes</legend>
      <p id="approval-help" className="text-xs text-zinc-500">
        For every table without a rule of its own (set one in a writable table&apos;s Columns panel). A write that needs a decision is not run: the gateway dry-runs it in a transaction it rolls back and the caller gets a preview and a request id.
      </p>
      <div className="grid grid-cols-1 gap-2 sm:grid-cols-2 lg:grid-cols-4">
        {(["", ...APPROVAL_MODES] as const).map((mode) => {
          const text = APPROVAL_TEXT[mode];
          const checked = (value.approval ?? "") === mode;
          return (
            <label
              key={mode || "none"}
              className={cx(
                "cursor-pointer rounded-lg p-3 ring-1 has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-brand-500",
                checked ? "bg-brand-50 ring-brand-500" : "bg-white ring-zinc-200 hover:ring-zinc-300",
              )}
            >
              <input
                type="radio"
                name="link-approval"
                value={mode}
                checked={checked}
                onChange={() => {
                  const { approval: _previous, ...rest } = value;
                  onChange(mode ? { ...rest, approval: mode as ApprovalMode } : rest);
                }}
                className="sr-only"
              />
              <span className="block text-sm font-medium text-zinc-900">{text.title}</span>
              <span className="mt-0.5 block text-xs text-zinc-500">{text.description}</span>
            </label>
          );
        })}
      </div>
      {approvalErrors.map((e, i) => (
        <p key={i} className="text-xs text-red-600" role="alert">{e.message}</p>
      ))}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <div className="space-y-1">
          <label className="flex items-center gap-2 text-sm text-zinc-800">
            <input
              type="checkbox"
              checked={options.selfApproval}
              onChange={(e) => onChange(withApprovalOptions(value, { selfApproval: e.target.checked }))}
              className="rounded border-zinc-300 text-brand-600"
            />
            Approvers may approve their own requests
          </label>
          <p className="text-xs text-zinc-500">Off: a request made with an approver&apos;s own key waits for another approver. Confirmation by the caller is always their own.</p>
          {errorsAt(errors, "approvalOptions.selfApproval").map((e, i) => (
            <p key={i} className="text-xs text-red-600" role="alert">{e.message}</p>
          ))}
        </div>
        <div className="space-y-1">
          <label htmlFor="approval-expiry" className="block text-sm font-medium text-zinc-800">Requests expire after (minutes)</label>
          <Input
            id="approval-expiry"
            type="number"
            min={1}
            max={10080}
            value={options.expiresAfterMinutes}
            aria-invalid={expiryErrors.length > 0}
            onChange={(e) => onChange(withApprovalOptions(value, { expiresAfterMinutes: e.target.valueAsNumber }))}
          />
          <p className="text-xs text-zinc-500">How long a request waits for a decision, and an approved one for the caller to run it (1 to 10,080 — one week).</p>
          {expiryErrors.map((e, i) => (
            <p key={i} className="text-xs text-red-600" role="alert">{e.message}</p>
          ))}
        </div>
      </div>
    </fieldset>
  );
}
