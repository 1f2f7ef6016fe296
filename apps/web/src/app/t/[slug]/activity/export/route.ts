import { isPortcullisError } from "@portcullis/db/errors";
import { csvLine, EXPORT_COLUMNS, jsonLine } from "@/features/activity/export-format";
import { parseExportQuery } from "@/features/activity/export-query";
import { EXPORT_MAX_ROWS, iterateEvents } from "@/features/activity/operations";
import { authorizeTeamSlug } from "@/lib/authz";
import { getSessionUser } from "@/lib/session";

export const dynamic = "force-dynamic";

/**
 * CSV or JSON-lines of the events under the filters, streamed in keyset batches. Bounded: the query
 * is parsed with zod (clamped window, no NUL), and at most EXPORT_MAX_ROWS rows are sent (announced
 * in a header; JSON lines end with a `truncated` line when the cap was reached).
 */
export async function GET(request: Request, context: { params: Promise<{ slug: string }> }) {
  const { slug } = await context.params;
  const user = await getSessionUser();
  if (!user) return Response.json({ error: "sign in first" }, { status: 401 });
  let teamId: string;
  try {
    teamId = (await authorizeTeamSlug(user, slug, "activity:export")).team.id;
  } catch (error) {
    if (isPortcullisError(error)) return Response.json({ error: "not found" }, { status: 404 });
    throw error;
  }
  const query = parseExportQuery(new URL(request.url).searchParams);
  if (!query.ok) return Response.json({ error: query.error }, { status: 400 });
  const { format, filters } = query;
  const encoder = new TextEncoder();
  const events = iterateEvents(user, teamId, filters);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      if (format === "csv") controller.enqueue(encoder.encode(EXPORT_COLUMNS.join(",") + "\r\n"));
    },
    async pull(controller) {
      // One batch of lines per pull keeps memory flat whatever the export size.
      let chunk = "";
      for (let i = 0; i < 500; i++) {
        const next = await events.next();
        if (next.done) {
          if (next.value && format === "jsonl") chunk += `${JSON.stringify({ truncated: true, maxRows: EXPORT_MAX_ROWS })}\n`;
          if (chunk) controller.enqueue(encoder.encode(chunk));
          controller.close();
          return;
        }
        chunk += format === "csv" ? csvLine(next.value) : jsonLine(next.value);
      }
      controller.enqueue(encoder.encode(chunk));
    },
  });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  return new Response(stream, {
    headers: {
      "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "content-disposition": `attachment; filename="portcullis-activity-${slug}-${stamp}.${format === "csv" ? "csv" : "jsonl"}"`,
      "cache-control": "no-store",
      "x-portcullis-export-max-rows": String(EXPORT_MAX_ROWS),
    },
  });
}
