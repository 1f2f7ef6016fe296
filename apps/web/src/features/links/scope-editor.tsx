"use client";
import { useEffect, useMemo, useRef, useState } from "react";
import { ACCESS_LEVELS } from "@portcullis/policy/scope";
import { Alert, Badge, Button, Input, Select, Textarea, cx, inputClass } from "../../components/ui";
import { checkScopeAction, validateScopeAction } from "./actions";
import { ApprovalSettings } from "./approval-settings";
import { LimitsSettings } from "./limits-settings";
import type { TableInfo } from "./operations";
import { cleanScope, mayWrite, presetOf, tableKey, toggleSchema, type Access, type Preset, type ScopeDoc, type TableRule } from "./scope-doc";
import { TableRulesPanel, type GovernanceContext } from "./table-rules-panel";

export { DEFAULT_SCOPE, type ScopeDoc } from "./scope-doc";

const ACCESS_TEXT: Record<Access, string> = { none: "Hidden", read: "Read", write: "Read & write", admin: "Admin (DDL)" };

const PRESETS: { id: Preset; title: string; description: string }[] = [
  { id: "read-only", title: "Read only", description: "SELECT on every table. The safe default for AI assistants." },
  { id: "read-write", title: "Read-write on chosen tables", description: "Read everything; pick the tables that may be written." },
  { id: "full", title: "Full", description: "Read, write and DDL. Still no files, programs or role switching." },
  { id: "custom", title: "Custom", description: "Any default and per-table mix." },
];

function ruleFor(scope: ScopeDoc, t: TableInfo): [string, TableRule | undefined] {
  const short = tableKey(t.schema, t.name);
  if (scope.tables[short]) return [short, scope.tables[short]];
  if (scope.tables[t.key]) return [t.key, scope.tables[t.key]];
  return [short, undefined];
}

export function ScopeEditor({
  value,
  onChange,
  tables,
  tablesError,
  loadingTables,
  errors,
  governance,
}: {
  value: ScopeDoc;
  onChange: (scope: ScopeDoc) => void;
  tables: TableInfo[] | null;
  tablesError?: string;
  loadingTables?: boolean;
  errors?: { path: string; message: string }[];
  /** Row filters and masks: on-demand checks against the connection, previews and samples. */
  governance?: GovernanceContext;
}) {
  const [view, setView] = useState<"visual" | "json">("visual");
  const [filter, setFilter] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [json, setJson] = useState(() => JSON.stringify(value, null, 2));
  const [jsonErrors, setJsonErrors] = useState<{ path: string; message: string }[]>([]);
  const [checkErrors, setCheckErrors] = useState<{ path: string; message: string }[]>([]);
  const lastEmitted = useRef(JSON.stringify(value));
  const fileInput = useRef<HTMLInputElement>(null);
  const preset = presetOf(value);

  // Keep the JSON text in step with visual edits (but never rewrite what the user is typing).
  useEffect(() => {
    const text = JSON.stringify(value);
    if (text !== lastEmitted.current) {
      lastEmitted.current = text;
      setJson(JSON.stringify(value, null, 2));
      setJsonErrors([]);
    }
  }, [value]);

  function emit(next: ScopeDoc) {
    const cleaned = cleanScope(next);
    lastEmitted.current = JSON.stringify(cleaned);
    setJson(JSON.stringify(cleaned, null, 2));
    setJsonErrors([]);
    onChange(cleaned);
  }

  function applyPreset(p: Preset) {
    if (p === "custom") return;
    const tablesNext: Record<string, TableRule> = {};
    for (const [k, r] of Object.entries(value.tables)) {
      // Presets keep what is hidden, filtered and masked: that is the PII decision, not the preset's.
      if (r.access === "none") tablesNext[k] = { access: "none" };
      else {
        const { access: _access, ...kept } = r;
        if (Object.keys(kept).length > 0) tablesNext[k] = kept;
      }
      if (p === "read-write" && r.access === "write") tablesNext[k] = { ...tablesNext[k], access: "write" };
    }
    emit({ ...value, access: p === "full" ? "admin" : "read", tables: tablesNext });
  }

  function setRule(key: string, rule: TableRule) {
    emit({ ...value, tables: { ...value.tables, [key]: rule } });
  }

  const validateTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  function onJsonChange(text: string) {
    setJson(text);
    clearTimeout(validateTimer.current);
    validateTimer.current = setTimeout(async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        setJsonErrors([{ path: "(document)", message: `Not valid JSON: ${(error as Error).message}` }]);
        return;
      }
      const result = await validateScopeAction({ scope: parsed });
      if (!result.ok) return setJsonErrors([{ path: "(document)", message: result.error }]);
      if (!result.data.ok) return setJsonErrors(result.data.errors);
      setJsonErrors([]);
      const scope = result.data.scope as ScopeDoc;
      lastEmitted.current = JSON.stringify(scope);
      onChange(scope);
    }, 300);
  }

  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return (tables ?? []).filter((t) => !f || t.key.toLowerCase().includes(f) || t.columns.some((c) => c.name.toLowerCase().includes(f)));
  }, [tables, filter]);

  // Schemas: absent in the document means every non-system schema (see toggleSchema).
  const allSchemas = useMemo(() => [...new Set((tables ?? []).map((t) => t.schema))].sort(), [tables]);
  const visibleSchemas = value.schemas ?? allSchemas;

  // Filters and masks against the connection's own catalog (the server checks again on save).
  async function checkAgainstDatabase() {
    if (!governance) return;
    const result = await checkScopeAction({ teamId: governance.teamId, connectionId: governance.connectionId, scope: value });
    if (!result.ok) return setCheckErrors([{ path: "(document)", message: result.error }]);
    setCheckErrors(result.data.ok ? [] : result.data.errors);
  }

  const allErrors = [...(errors ?? []), ...jsonErrors, ...checkErrors];
  const errorsOf = (key: string) => allErrors.filter((e) => e.path.startsWith(`tables.${key}.`) || e.path.startsWith(`tables[${JSON.stringify(key)}]`));

  return (
    <div className="space-y-5">
      <div className="flex items-center justify-between gap-2">
        <div role="tablist" aria-label="Scope view" className="inline-flex rounded-lg bg-zinc-100 p-1">
          {(["visual", "json"] as const).map((v) => (
            <button
              key={v}
              type="button"
              role="tab"
              aria-selected={view === v}
              onClick={() => setView(v)}
              className={cx("rounded-md px-3 py-1 text-sm font-medium", view === v ? "bg-white text-zinc-900 shadow-sm ring-1 ring-zinc-200" : "text-zinc-500 hover:text-zinc-800")}
            >
              {v === "visual" ? "Editor" : "JSON"}
            </button>
          ))}
        </div>
        <div className="flex gap-2">
          <Button
            variant="ghost"
            className="text-xs"
            onClick={() => {
              const blob = new Blob([JSON.stringify(value, null, 2) + "\n"], { type: "application/json" });
              const a = document.createElement("a");
              a.href = URL.createObjectURL(blob);
              a.download = "scope.json";
              a.click();
            }}
          >
            Export
          </Button>
          <Button variant="ghost" className="text-xs" onClick={() => fileInput.current?.click()}>
            Import…
          </Button>
          <input
            ref={fileInput}
            type="file"
            accept="application/json,.json"
            className="hidden"
            aria-label="Import a scope file"
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (!file) return;
              setView("json");
              onJsonChange(await file.text());
              e.target.value = "";
            }}
          />
        </div>
      </div>

      {allErrors.length > 0 ? (
        <Alert title="The scope has problems">
          <ul className="list-disc pl-4">
            {allErrors.map((e, i) => (
              <li key={i}>
                <code className="font-mono text-xs">{e.path}</code>: {e.message}
              </li>
            ))}
          </ul>
        </Alert>
      ) : null}

      {view === "json" ? (
        <div>
          <label htmlFor="scope-json" className="sr-only">Scope document (JSON)</label>
          <Textarea id="scope-json" rows={18} value={json} onChange={(e) => onJsonChange(e.target.value)} spellCheck={false} aria-invalid={jsonErrors.length > 0} />
          <p className="mt-1 text-xs text-zinc-500">The same document the gateway enforces and <code>pnpm policy check --scope</code> reads. Edits here update the editor once they are valid.</p>
        </div>
      ) : (
        <>
          <fieldset>
            <legend className="text-sm font-medium text-zinc-800">Starting point</legend>
            <div className="mt-2 grid grid-cols-1 gap-2 sm:grid-cols-2 lg:grid-cols-4">
              {PRESETS.map((p) => (
                <label
                  key={p.id}
                  className={cx(
                    "cursor-pointer rounded-lg p-3 ring-1 transition-colors has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-brand-500",
                    preset === p.id ? "bg-brand-50 ring-brand-500" : "bg-white ring-zinc-200 hover:ring-zinc-300",
                  )}
                >
                  <input type="radio" name="preset" value={p.id} checked={preset === p.id} onChange={() => applyPreset(p.id)} className="sr-only" />
                  <span className="block text-sm font-medium text-zinc-900">{p.title}</span>
                  <span className="mt-0.5 block text-xs text-zinc-500">{p.description}</span>
                </label>
              ))}
            </div>
          </fieldset>

          {preset === "custom" ? (
            <div className="flex items-center gap-3">
              <label htmlFor="default-access" className="text-sm font-medium text-zinc-800">Default access for tables not listed</label>
              <Select id="default-access" className="!w-44" value={value.access} onChange={(e) => emit({ ...value, access: e.target.value as Access })}>
                {ACCESS_LEVELS.map((a) => (
                  <option key={a} value={a}>{ACCESS_TEXT[a]}</option>
                ))}
              </Select>
            </div>
          ) : null}

          {allSchemas.length > 0 ? (
            <fieldset>
              <legend className="text-sm font-medium text-zinc-800">Schemas</legend>
              <p className="text-xs text-zinc-500">
                {value.schemas
                  ? "Only the checked schemas exist for this link."
                  : "Every schema is visible, including schemas created later. Uncheck one to hide it and everything in it."}
              </p>
              <div className="mt-2 flex flex-wrap gap-x-5 gap-y-1">
                {allSchemas.map((schema) => (
                  <label key={schema} className="flex items-center gap-2 text-sm">
                    <input
                      type="checkbox"
                      checked={visibleSchemas.includes(schema)}
                      disabled={visibleSchemas.length === 1 && visibleSchemas.includes(schema)}
                      onChange={() => emit(toggleSchema(value, allSchemas, schema))}
                      className="rounded border-zinc-300 text-brand-600"
                    />
                    <span className="font-mono">{schema}</span>
                  </label>
                ))}
              </div>
            </fieldset>
          ) : null}

          <div>
            <div className="flex flex-wrap items-end justify-between gap-2">
              <div>
                <h3 className="text-sm font-medium text-zinc-800">Tables</h3>
                <p className="text-xs text-zinc-500">Hide tables that hold secrets or PII, and hide columns such as emails and phone numbers. Hidden objects behave as if they did not exist.</p>
              </div>
              <Input aria-label="Filter tables and columns" placeholder="Filter tables or columns…" className="w-56" value={filter} onChange={(e) => setFilter(e.target.value)} />
            </div>
            <div className="mt-3 max-h-[28rem] overflow-y-auto rounded-lg ring-1 ring-zinc-200">
              {loadingTables ? (
                <p className="p-4 text-sm text-zinc-500">Reading the connection&apos;s tables…</p>
              ) : tablesError ? (
                <div className="p-4"><Alert tone="amber">{tablesError} — you can still edit the scope in the JSON view.</Alert></div>
              ) : shown.length === 0 ? (
                <p className="p-4 text-sm text-zinc-500">{tables?.length ? "No table matches the filter." : "This connection has no tables yet."}</p>
              ) : (
                <ul className="divide-y divide-zinc-100">
                  {shown.map((t) => {
                    const [key, rule] = ruleFor(value, t);
                    const schemaHidden = !visibleSchemas.includes(t.schema);
                    const access = schemaHidden ? "none" : (rule?.access ?? value.access);
                    const hidden = rule?.hiddenColumns ?? [];
                    const expanded = open === t.key;
                    return (
                      <li key={t.key} className={cx("px-3 py-2", access === "none" && "bg-zinc-50")}>
                        <div className="flex flex-wrap items-center gap-3">
                          <div className="min-w-0 flex-1">
                            <span className={cx("font-mono text-sm", access === "none" ? "text-zinc-400 line-through" : "text-zinc-900")}>{tableKey(t.schema, t.name)}</span>
                            {t.kind !== "table" ? <Badge className="ml-2">{t.kind.replace("_", " ")}</Badge> : null}
                            {schemaHidden ? <Badge className="ml-2">schema hidden</Badge> : null}
                            {hidden.length > 0 && access !== "none" ? <Badge tone="amber" className="ml-2">{hidden.length} hidden column{hidden.length === 1 ? "" : "s"}</Badge> : null}
                            {rule?.rowFilter && access !== "none" ? <Badge tone="blue" className="ml-2">row filter</Badge> : null}
                            {rule?.approval && mayWrite(access) ? <Badge tone="amber" className="ml-2">approval: {rule.approval}</Badge> : null}
                            {Object.keys(rule?.maskedColumns ?? {}).length > 0 && access !== "none" ? <Badge tone="blue" className="ml-2">{Object.keys(rule?.maskedColumns ?? {}).length} masked</Badge> : null}
                          </div>
                          <label className="sr-only" htmlFor={`access-${t.key}`}>Access to {t.key}</label>
                          <select
                            id={`access-${t.key}`}
                            className={cx(inputClass.replace("w-full", "w-44"), "py-1 text-xs")}
                            disabled={schemaHidden}
                            value={rule?.access ?? ""}
                            onChange={(e) => setRule(key, { ...rule, access: (e.target.value || undefined) as Access | undefined })}
                          >
                            <option value="">Default ({ACCESS_TEXT[value.access]})</option>
                            {ACCESS_LEVELS.map((a) => (
                              <option key={a} value={a}>{ACCESS_TEXT[a]}</option>
                            ))}
                          </select>
                          <button
                            type="button"
                            disabled={access === "none"}
                            aria-expanded={expanded}
                            aria-controls={`cols-${t.key}`}
                            onClick={() => setOpen(expanded ? null : t.key)}
                            className="w-28 rounded px-2 py-1 text-right text-xs font-medium text-brand-700 hover:bg-brand-50 disabled:text-zinc-300"
                          >
                            Columns ({t.columns.length - hidden.length}/{t.columns.length})
                          </button>
                        </div>
                        {expanded && access !== "none" ? (
                          <TableRulesPanel
                            id={`cols-${t.key}`}
                            table={t}
                            ruleKey={key}
                            rule={rule}
                            scope={value}
                            errors={errorsOf(key)}
                            onChange={(next) => setRule(key, next)}
                            onCheck={checkAgainstDatabase}
                            governance={governance}
                          />
                        ) : null}
                      </li>
                    );
                  })}
                </ul>
              )}
            </div>
          </div>

          <ApprovalSettings value={value} onChange={emit} errors={allErrors} />

          <LimitsSettings value={value} onChange={emit} errors={allErrors} />
        </>
      )}
    </div>
  );
}
