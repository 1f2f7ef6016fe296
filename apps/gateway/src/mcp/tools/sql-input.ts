import { z } from "zod";

export const sqlText = z.string().min(1).max(100_000).describe("One SQL statement (PostgreSQL dialect)");
export const sqlParams = z
  .array(z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.unknown()), z.record(z.string(), z.unknown())]))
  .max(1000)
  .optional()
  .describe("Values for $1, $2, ... placeholders (bind parameters; never paste values into the SQL)");
