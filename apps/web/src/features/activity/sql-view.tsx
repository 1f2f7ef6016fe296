import { formatSql, tokenizeSql } from "./sql-format";

const CLASS: Record<string, string | undefined> = { keyword: "sql-keyword", string: "sql-string", number: "sql-number", comment: "sql-comment" };

export function SqlView({ sql, testId = "event-sql" }: { sql: string; testId?: string }) {
  const tokens = tokenizeSql(formatSql(sql));
  return (
    <pre className="overflow-x-auto whitespace-pre-wrap break-words rounded-md bg-zinc-50 p-3 font-mono text-xs leading-relaxed text-zinc-800 ring-1 ring-zinc-200" data-testid={testId}>
      {tokens.map((t, i) => (CLASS[t.kind] ? <span key={i} className={CLASS[t.kind]}>{t.text}</span> : t.text))}
    </pre>
  );
}
