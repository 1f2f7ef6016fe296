import { cx } from "../../components/ui";
import { affectedWords, diffPreview, otherTablesWords, STALE_PREVIEW_SENTENCE, type DiffRow, type WritePreview } from "./preview-diff";

const ROW_TONE: Record<DiffRow["kind"], string> = {
  deleted: "bg-red-50",
  inserted: "bg-emerald-50",
  updated: "",
  unchanged: "",
};
const ROW_LABEL: Record<DiffRow["kind"], string> = { deleted: "deleted", inserted: "inserted", updated: "changed", unchanged: "unchanged" };

function Cell({ cell, kind }: { cell: DiffRow["cells"][number]; kind: DiffRow["kind"] }) {
  if (cell.state === "changed") {
    return (
      <td className="px-2 py-1 align-top font-mono text-xs" data-cell="changed">
        <del className="block bg-red-100 text-red-800 decoration-red-600" aria-label={`was ${cell.before}`}>{cell.before}</del>
        <ins className="block bg-emerald-100 text-emerald-800 no-underline" aria-label={`becomes ${cell.after}`}>{cell.after}</ins>
      </td>
    );
  }
  const value = cell.after ?? cell.before ?? "";
  return (
    <td className={cx("px-2 py-1 align-top font-mono text-xs", kind === "deleted" && "text-red-800 line-through decoration-red-400", kind === "inserted" && "text-emerald-800", value === "NULL" && "text-zinc-400")}>
      {value}
    </td>
  );
}

/**
 * The dry run read as a change: the count in words, then before/after rows matched by key with the
 * changed cells marked (old struck through in red, new in green), deleted rows red, inserted green.
 * Values are exactly what the gateway's policy let out of the dry run: masked values stay masked.
 */
export function PreviewView({ preview, withheld = false }: { preview: WritePreview | null; withheld?: boolean }) {
  if (!preview) return <p className="text-sm text-zinc-500">No preview was recorded for this request.</p>;
  if (withheld) {
    // Only the counts survive (operations withheld the rest before this rendered); say why the rows are missing.
    return (
      <div className="space-y-2" data-testid="write-preview">
        <p className="text-sm font-medium text-zinc-900" data-testid="affected-words">This statement {affectedWords(preview)}.</p>
        <p className="text-xs text-amber-800" data-testid="preview-withheld">{STALE_PREVIEW_SENTENCE}</p>
      </div>
    );
  }
  const diff = diffPreview(preview);
  const shown = diff.rows.length;
  const affected = preview.affected ?? null;
  const others = otherTablesWords(preview);
  return (
    <div className="space-y-2" data-testid="write-preview">
      <p className="text-sm font-medium text-zinc-900" data-testid="affected-words">This statement {affectedWords(preview)}.</p>
      {others.length > 0 ? (
        <p className="text-sm font-medium text-red-700" data-testid="other-tables">
          It also changes other tables (through rules, triggers or the code it runs): {others.join("; ")}.
        </p>
      ) : null}
      {diff.rows.length > 0 ? (
        <div className="overflow-x-auto rounded-md ring-1 ring-zinc-200">
          <table className="min-w-full divide-y divide-zinc-200 text-left" data-testid="preview-diff">
            <thead className="bg-zinc-50">
              <tr>
                <th className="px-2 py-1 text-[11px] font-medium uppercase tracking-wide text-zinc-500">Row</th>
                {diff.columns.map((c) => (
                  <th key={c} className="px-2 py-1 text-[11px] font-medium uppercase tracking-wide text-zinc-500">
                    {c}
                    {preview.keyColumns.includes(c) ? <span className="ml-1 normal-case text-zinc-400">(key)</span> : null}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100">
              {diff.rows.map((row, i) => (
                <tr key={i} className={ROW_TONE[row.kind]} data-row-kind={row.kind}>
                  <td className={cx("px-2 py-1 text-[11px] font-medium", row.kind === "deleted" ? "text-red-700" : row.kind === "inserted" ? "text-emerald-700" : "text-zinc-500")}>{ROW_LABEL[row.kind]}</td>
                  {row.cells.map((cell, j) => <Cell key={j} cell={cell} kind={row.kind} />)}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <p className="text-xs text-zinc-500">
        {affected !== null && affected > shown ? `The first ${shown} of ${affected.toLocaleString("en")} rows are shown. ` : null}
        {diff.matchedBy === "key" ? `Rows matched by ${preview.keyColumns.join(", ")}.` : diff.matchedBy === "position" ? "No visible key: rows before and after are paired in the order the dry run read them." : null}
      </p>
      {preview.notes.length > 0 ? (
        <ul className="list-inside list-disc text-xs text-amber-800" data-testid="preview-notes">
          {preview.notes.map((n, i) => <li key={i}>{n}</li>)}
        </ul>
      ) : null}
      {preview.plan ? (
        <details className="text-xs">
          <summary className="cursor-pointer text-zinc-600 hover:text-zinc-900">Plan (EXPLAIN of the dry run)</summary>
          <pre className="mt-1 max-h-80 overflow-auto rounded-md bg-zinc-50 p-2 font-mono text-[11px] ring-1 ring-zinc-200">{JSON.stringify(preview.plan, null, 2)}</pre>
        </details>
      ) : null}
    </div>
  );
}
