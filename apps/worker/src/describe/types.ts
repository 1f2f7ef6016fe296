import { z } from "zod";
import type { TableSnapshot } from "../schema/snapshot.js";

/** A table whose foreign key points at the described one. */
export interface Referrer {
  schema: string;
  table: string;
  /** The referring table's columns (in foreign-key order). */
  columns: string[];
  /** The described table's columns they point at, in the same order (absent when not known). */
  references?: string[];
}

/**
 * What pg_stats knows about one column: read only for connections that opted in to sample values,
 * and only for columns no link hides, masks or row-filters (schema/visibility.ts).
 */
export interface ColumnStats {
  /** pg_stats.n_distinct: > 0 a count, < 0 a fraction of the rows (-1: every row distinct). */
  nDistinct: number | null;
  /** The most common values, most common first (already cut to a few short ones). */
  commonValues: string[];
}

/** What a describer is given for one table (one model call per table bounds cost and prompt size). */
export interface TableContext {
  table: TableSnapshot;
  /** Tables whose foreign keys point at this one ("schema.table(columns)"). */
  referencedBy: string[];
  /** The same, structured (absent in contexts built before it existed). */
  referrers?: Referrer[];
  /** A few values per column, only for opted-in connections and only for columns no link hides. */
  samples: Record<string, string[]>;
  /** Column statistics, under the same conditions as samples. */
  stats?: Record<string, ColumnStats>;
}

/** The structured output a model must return; validated before anything is stored. */
export const tableDescriptionSchema = z.object({
  table: z.string().min(1).max(1000).describe("One or two sentences: what one row of this table represents and what it is for."),
  columns: z
    .array(
      z.object({
        name: z.string().describe("The column name exactly as given."),
        description: z.string().min(1).max(500).describe("One sentence: what the column holds."),
      }),
    )
    .describe("One entry per column of the table."),
});
export type TableDescription = z.infer<typeof tableDescriptionSchema>;

export interface Describer {
  /** "heuristic" for the offline describer, "ai" otherwise. */
  readonly source: "ai" | "heuristic";
  /** The model id stored with each description (the offline describer's version for it). */
  readonly model: string | null;
  describe(context: TableContext, signal?: AbortSignal): Promise<TableDescription>;
}
