"use client";
import { useState } from "react";
import { MASK_KINDS, type MaskKind } from "@portcullis/policy/scope";
import { Button, Textarea, cx, inputClass } from "../../components/ui";
import { previewRowFilterAction, sampleMaskAction } from "./actions";
import type { TableInfo } from "./operations";
import { TableApproval } from "./table-approval";
import type { ScopeDoc, TableRule } from "./scope-doc";

/** What the preview and samples need; absent while a link is being created (there is no link yet). */
export interface GovernanceContext {
  teamId: string;
  connectionId: string;
  linkId?: string;
  members: { id: string; label: string }[];
}

const PLACEHOLDERS = ["{{member.id}}", "{{member.email}}", "{{key.id}}", "{{link.id}}", "{{team.id}}", "{{member.attr.NAME}}"];

const MASK_TEXT: Record<MaskKind, string> = {
  redact: "Redact (***)",
  partial: "Partial (a***z)",
  email: "Email (***@domain)",
  last4: "Last 4 (***1234)",
  hash: "Keyed hash (h:…)",
};

/**
 * One table's columns (visible or hidden, and each visible column's mask) and its row filter, with the
 * live preview and mask samples. The preview and samples run the draft on the server, through the
 * policy checker; nothing here decides what a member sees.
 */
export function TableRulesPanel({
  id,
  table,
  ruleKey,
  rule,
  scope,
  errors,
  onChange,
  onCheck,
  governance,
}: {
  id: string;
  table: TableInfo;
  ruleKey: string;
  rule: TableRule | undefined;
  scope: ScopeDoc;
  errors: { path: string; message: string }[];
  onChange: (rule: TableRule) => void;
  onCheck: () => void;
  governance?: GovernanceContext;
}) {
  const hidden = rule?.hiddenColumns ?? [];
  const masks = rule?.maskedColumns ?? {};
  const [filterText, setFilterText] = useState(rule?.rowFilter ?? "");
  const [member, setMember] = useState(governance?.members[0]?.id ?? "");
  const [preview, setPreview] = useState<{ text: string; error?: boolean }>();
  const [samples, setSamples] = useState<Record<string, { values?: (string | null)[]; error?: string }>>({});
  const filterErrors = errors.filter((e) => e.path.includes("rowFilter"));
  const canRun = !!governance?.linkId && !!member;

  function setMask(column: string, kind: MaskKind | "") {
    const next = { ...masks };
    if (kind) next[column] = kind;
    else delete next[column];
    onChange({ ...rule, maskedColumns: next });
  }

  async function runPreview() {
    if (!governance?.linkId) return;
    setPreview({ text: "Counting…" });
    const result = await previewRowFilterAction({ teamId: governance.teamId, linkId: governance.linkId, scope, table: table.key, userId: member });
    if (!result.ok) return setPreview({ text: result.error, error: true });
    const { visible, total, member: email } = result.data;
    setPreview({ text: `${email} would see ${visible.toLocaleString("en")} of ${total.toLocaleString("en")} rows` });
  }

  async function runSample(column: string) {
    if (!governance?.linkId) return;
    setSamples((s) => ({ ...s, [column]: {} }));
    const result = await sampleMaskAction({ teamId: governance.teamId, linkId: governance.linkId, scope, table: table.key, column, userId: member });
    setSamples((s) => ({ ...s, [column]: result.ok ? { values: result.data.values } : { error: result.error } }));
  }

  return (
    <div id={id} className="mt-2 space-y-3 rounded-md bg-zinc-50 p-3">
      <fieldset className="grid grid-cols-1 gap-x-4 gap-y-1 sm:grid-cols-2">
        <legend className="sr-only">Columns of {table.key}</legend>
        {table.columns.map((c) => {
          const isHidden = hidden.includes(c.name);
          const sample = samples[c.name];
          return (
            <div key={c.name} className="text-xs">
              <div className="flex items-center gap-2">
                <label className="flex min-w-0 flex-1 items-center gap-2">
                  <input
                    type="checkbox"
                    checked={!isHidden}
                    onChange={() => onChange({ ...rule, hiddenColumns: isHidden ? hidden.filter((h) => h !== c.name) : [...hidden, c.name] })}
                    className="rounded border-zinc-300 text-brand-600"
                  />
                  <span className={cx("font-mono", isHidden ? "text-zinc-400 line-through" : "text-zinc-800")}>{c.name}</span>
                  <span className="truncate text-zinc-400">{c.type}</span>
                </label>
                {!isHidden ? (
                  <>
                    <label className="sr-only" htmlFor={`${id}-mask-${c.name}`}>Mask for {c.name}</label>
                    <select
                      id={`${id}-mask-${c.name}`}
                      className={cx(inputClass.replace("w-full", "w-36"), "py-0.5 text-xs")}
                      value={masks[c.name] ?? ""}
                      onChange={(e) => setMask(c.name, e.target.value as MaskKind | "")}
                    >
                      <option value="">Not masked</option>
                      {MASK_KINDS.map((k) => (
                        <option key={k} value={k}>{MASK_TEXT[k]}</option>
                      ))}
                    </select>
                    {masks[c.name] && canRun ? (
                      <button type="button" className="text-brand-700 hover:underline" onClick={() => runSample(c.name)} aria-label={`Sample masked values of ${c.name}`}>
                        Sample
                      </button>
                    ) : null}
                  </>
                ) : null}
              </div>
              {errors
                .filter((e) => e.path.includes(`maskedColumns[${JSON.stringify(c.name)}]`) || e.path.endsWith(`maskedColumns.${c.name}`))
                .map((e, i) => (
                  <p key={i} className="ml-6 mt-0.5 text-red-600" role="alert">{e.message}</p>
                ))}
              {sample ? (
                <p className={cx("ml-6 mt-0.5 font-mono", sample.error ? "text-red-600" : "text-zinc-600")} data-testid={`sample-${c.name}`}>
                  {sample.error ?? (sample.values ? (sample.values.length ? sample.values.map((v) => v ?? "NULL").join(" · ") : "no rows") : "Sampling…")}
                </p>
              ) : null}
            </div>
          );
        })}
      </fieldset>

      <TableApproval id={id} ruleKey={ruleKey} rule={rule} scope={scope} errors={errors} onChange={onChange} />

      <div className="space-y-1">
        <label htmlFor={`${id}-filter`} className="block text-xs font-medium text-zinc-800">Row filter for {ruleKey}</label>
        <Textarea
          id={`${id}-filter`}
          rows={2}
          value={filterText}
          placeholder="support_rep_id = {{member.attr.rep_id}}"
          aria-invalid={filterErrors.length > 0}
          aria-describedby={`${id}-filter-help`}
          onChange={(e) => {
            setFilterText(e.target.value);
            const { rowFilter: _old, ...rest } = rule ?? {};
            onChange(e.target.value.trim() ? { ...rest, rowFilter: e.target.value } : rest);
          }}
          onBlur={onCheck}
        />
        {filterErrors.map((e, i) => (
          <p key={i} className="text-xs text-red-600" role="alert">{e.message}</p>
        ))}
        <p id={`${id}-filter-help`} className="text-xs text-zinc-500">
          A SQL condition on this table&apos;s columns: only rows where it is true can be read, updated or deleted, and no write may create a row outside it. Placeholders, bound per call (never pasted into the SQL):{" "}
          {PLACEHOLDERS.map((p) => (
            <code key={p} className="mr-1 rounded bg-white px-1 font-mono ring-1 ring-zinc-200">{p}</code>
          ))}
          — set member attributes on the Members tab.
        </p>
      </div>

      {governance?.linkId && governance.members.length > 0 ? (
        <div className="flex flex-wrap items-center gap-2 text-xs">
          <label htmlFor={`${id}-member`} className="font-medium text-zinc-800">Preview as</label>
          <select id={`${id}-member`} className={cx(inputClass.replace("w-full", "w-64"), "py-0.5 text-xs")} value={member} onChange={(e) => setMember(e.target.value)}>
            {governance.members.map((m) => (
              <option key={m.id} value={m.id}>{m.label}</option>
            ))}
          </select>
          <Button variant="secondary" className="py-0.5 text-xs" onClick={runPreview}>Preview rows</Button>
          {preview ? (
            <span role="status" data-testid="row-preview" className={preview.error ? "text-red-600" : "text-zinc-700"}>{preview.text}</span>
          ) : null}
        </div>
      ) : !governance?.linkId ? (
        <p className="text-xs text-zinc-500">Save the link to preview rows and masked values as one of its members.</p>
      ) : null}
    </div>
  );
}
