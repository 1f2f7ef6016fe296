"use client";
import { Input } from "../../components/ui";
import { errorsAt } from "./approval-settings";
import type { ScopeDoc } from "./scope-doc";

type FieldError = { path: string; message: string };
type Limits = ScopeDoc["limits"];

/** An emptied optional field means "no limit": the key leaves the document (cleanScope drops NaN). */
function optionalNumber(input: HTMLInputElement): number | undefined {
  return input.value.trim() === "" ? undefined : input.valueAsNumber;
}

function LimitField({
  id,
  label,
  help,
  errors,
  ...input
}: { id: string; label: string; help: string; errors: FieldError[] } & React.ComponentProps<"input">) {
  return (
    <div className="space-y-1">
      <label htmlFor={id} className="block text-sm font-medium text-zinc-800">{label}</label>
      <Input id={id} type="number" aria-invalid={errors.length > 0} aria-describedby={`${id}-help`} {...input} />
      <p id={`${id}-help`} className="text-xs text-zinc-500">{help}</p>
      {errors.map((e, i) => (
        <p key={i} className="text-xs text-red-600" role="alert">{e.message}</p>
      ))}
    </div>
  );
}

/** Rows per call, the statement timeout and the cost gate (the two estimates are optional). */
export function LimitsSettings({ value, onChange, errors }: { value: ScopeDoc; onChange: (scope: ScopeDoc) => void; errors: FieldError[] }) {
  const set = (patch: Partial<Limits>) => {
    const limits = { ...value.limits, ...patch } as Limits;
    for (const key of ["maxEstimatedCost", "maxEstimatedRows"] as const) if (limits[key] === undefined) delete limits[key];
    onChange({ ...value, limits });
  };
  return (
    <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
      <LimitField
        id="max-rows"
        label="Rows returned per call"
        help="Extra rows are cut and the result says so."
        errors={errorsAt(errors, "limits.maxRows")}
        min={1}
        max={1000000}
        value={value.limits.maxRows}
        onChange={(e) => set({ maxRows: e.target.valueAsNumber })}
      />
      <LimitField
        id="timeout"
        label="Statement timeout (ms)"
        help="Queries running longer are cancelled by PostgreSQL."
        errors={errorsAt(errors, "limits.statementTimeoutMs")}
        min={100}
        max={3600000}
        step={100}
        value={value.limits.statementTimeoutMs}
        onChange={(e) => set({ statementTimeoutMs: e.target.valueAsNumber })}
      />
      <LimitField
        id="max-estimated-cost"
        label="Maximum estimated cost"
        help="Cost gate: before a read runs, the gateway asks PostgreSQL for its plan (EXPLAIN); a read whose estimated total cost is above this is refused with the estimate and the limit (estimated_cost_exceeded). Empty: no limit."
        errors={errorsAt(errors, "limits.maxEstimatedCost")}
        min={0}
        step="any"
        placeholder="No limit"
        value={value.limits.maxEstimatedCost ?? ""}
        onChange={(e) => set({ maxEstimatedCost: optionalNumber(e.target) })}
      />
      <LimitField
        id="max-estimated-rows"
        label="Maximum estimated rows"
        help="Cost gate: a read the planner expects to produce more rows than this is refused before it runs (estimated_rows_exceeded). Empty: no limit."
        errors={errorsAt(errors, "limits.maxEstimatedRows")}
        min={1}
        step={1}
        placeholder="No limit"
        value={value.limits.maxEstimatedRows ?? ""}
        onChange={(e) => set({ maxEstimatedRows: optionalNumber(e.target) })}
      />
    </div>
  );
}
