import { isPortcullisError } from "@portcullis/db/errors";
import { readAuditExportBatch } from "@portcullis/db/operations";
import { parseCursorQuery } from "../../../../../../features/audit-export/cursor-query";
import { requireRole, authorizeTeamSlug } from "../../../../../../lib/authz";
import { getPrisma } from "../../../../../../lib/db";
import { env } from "../../../../../../lib/env";
import { getSessionUser } from "../../../../../../lib/session";

export const dynamic = "force-dynamic";

/**
 * The pull cursor: the team's events after `after`, in seq order (chain order), as JSON lines with
 * seq, hash and prev_hash, at most `limit`. `Portcullis-Next-Cursor` is the seq to pass as `after`
 * next (the same value when nothing new: poll again later). For whoever reads and exports the whole
 * team's Activity (owners, admins, viewers, auditors); a member, an outsider or an unknown team gets
 * the same 404. Only a gap-free run is returned, so following the cursor never skips an event unannounced
 * (events that are gone come as a first `portcullis.audit_gap` line and a Portcullis-Gap header).
 */
export async function GET(request: Request, context: { params: Promise<{ slug: string }> }) {
  const { slug } = await context.params;
  const user = await getSessionUser();
  if (!user) return Response.json({ error: "sign in first" }, { status: 401 });
  let teamId: string;
  try {
    const ctx = await authorizeTeamSlug(user, slug, "activity:export");
    requireRole(ctx, "activity:read-all");
    teamId = ctx.team.id;
  } catch (error) {
    if (isPortcullisError(error)) return Response.json({ error: "not found" }, { status: 404 });
    throw error;
  }
  const parsed = parseCursorQuery(new URL(request.url).searchParams);
  if (!parsed.ok) return Response.json({ error: parsed.error }, { status: 400 });
  const { after, limit } = parsed.query;
  const { gap, lines } = await readAuditExportBatch(getPrisma(), { teamId, afterSeq: after, limit }, { maxBytes: env().AUDIT_EXPORT_BATCH_BYTES });
  // Events gone for good after `after` (retention, or "missing": deleted outside it): the first line
  // says so (the sinks' gap record) and the cursor moves past them. A page stops at
  // AUDIT_EXPORT_BATCH_BYTES of JSON (at least one event).
  const next = lines.at(-1)?.seq ?? gap?.to_seq ?? after;
  const body = [...(gap ? [gap] : []), ...lines].map((l) => `${JSON.stringify(l)}\n`).join("");
  return new Response(body, {
    headers: {
      "content-type": "application/x-ndjson; charset=utf-8",
      "cache-control": "no-store",
      "portcullis-next-cursor": next,
      "portcullis-events": String(lines.length),
      ...(gap ? { "portcullis-gap": `${gap.from_seq}-${gap.to_seq}` } : {}),
    },
  });
}
