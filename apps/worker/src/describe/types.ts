import { z } from "zod";
import type { TableSnapshot } from "../schema/snapshot.js";

/** What a describer is given for one table (one model call per table bounds cost and prompt size). */
export interface TableContext {
  table: TableSnapshot;
  /** Tables whose foreign keys point at this one ("schema.table(columns)"). */
  referencedBy: string[];
  /** A few values per column, only for opted-in connections and only for columns no link hides. */
  samples: Record<string, string[]>;
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
  /** The model id stored with each description (null for the offline describer). */
  readonly model: string | null;
  describe(context: TableContext, signal?: AbortSignal): Promise<TableDescription>;
}
