/**
 * A small SQL pretty-printer and tokenizer for the detail panel. It never changes meaning: it only
 * breaks lines before major clauses and classifies tokens for colouring; strings, quoted identifiers
 * and comments pass through untouched.
 */
export type SqlToken = { kind: "keyword" | "string" | "number" | "comment" | "ident" | "punct" | "space"; text: string };

const KEYWORDS = new Set(
  "select from where and or not in is null as join left right inner outer full cross on group by order having limit offset union all intersect except insert into values update set delete returning with recursive case when then else end distinct exists between like ilike create alter drop table view index explain analyze merge using matched begin commit rollback grant revoke truncate asc desc nulls first last over partition window filter lateral true false".split(" "),
);
const BREAK_BEFORE = /^(select|from|where|group|order|having|limit|offset|union|intersect|except|values|set|returning|join|left|right|inner|full|cross|with|insert|update|delete|merge)$/i;

export function tokenizeSql(sql: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  const re = /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(\$\d+)|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_$]*)|(\s+)|(.)/g;
  for (const m of sql.matchAll(re)) {
    if (m[1]) tokens.push({ kind: "comment", text: m[1] });
    else if (m[2]) tokens.push({ kind: "string", text: m[2] });
    else if (m[3]) tokens.push({ kind: "ident", text: m[3] });
    else if (m[4]) tokens.push({ kind: "ident", text: m[4] });
    else if (m[5]) tokens.push({ kind: "number", text: m[5] });
    else if (m[6]) tokens.push({ kind: KEYWORDS.has(m[6].toLowerCase()) ? "keyword" : "ident", text: m[6] });
    else if (m[7]) tokens.push({ kind: "space", text: m[7] });
    else if (m[8]) tokens.push({ kind: "punct", text: m[8] });
  }
  return tokens;
}

export function formatSql(sql: string): string {
  const tokens = tokenizeSql(sql.trim());
  let out = "";
  let depth = 0;
  let prevKeyword = "";
  for (const t of tokens) {
    if (t.kind === "space") {
      if (!out.endsWith("\n") && !out.endsWith(" ")) out += t.text.includes("\n") && t.text.length > 1 ? " " : " ";
      continue;
    }
    if (t.kind === "punct" && t.text === "(") depth++;
    if (t.kind === "punct" && t.text === ")") depth = Math.max(0, depth - 1);
    const lower = t.text.toLowerCase();
    // "LEFT JOIN", "GROUP BY", "ORDER BY": only break before the first word.
    const continuing = (lower === "join" && /^(left|right|inner|full|cross|outer)$/.test(prevKeyword)) || (lower === "outer" && /^(left|right|full)$/.test(prevKeyword));
    if (t.kind === "keyword" && BREAK_BEFORE.test(lower) && !continuing && out.trim() !== "") {
      out = out.replace(/ $/, "") + "\n" + "  ".repeat(depth);
    }
    out += t.text;
    if (t.kind === "keyword") prevKeyword = lower;
    else if (t.kind !== "punct") prevKeyword = "";
  }
  return out.trim();
}
