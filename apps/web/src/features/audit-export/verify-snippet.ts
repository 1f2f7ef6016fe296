/**
 * The receiver's check shown on the sinks page, kept here so a test runs exactly this text against a
 * real signed batch. It is a function body over (createHmac, timingSafeEqual, header, secret, rawBody,
 * lastSeq, store, onGap, res): a receiver pastes it into its handler. It must not throw on what a sink
 * sends besides events — a test delivery and gap records have no `seq` — nor on a signature of the
 * wrong length (timingSafeEqual throws on unequal lengths: compare the lengths first).
 */
export const VERIFY_SNIPPET = `const parts = Object.fromEntries(String(header).split(",").map((p) => p.split("=", 2)));
const mac = createHmac("sha256", secret).update(\`\${parts.t}.\${rawBody}\`).digest("hex");
const given = Buffer.from(String(parts.v1 ?? ""));
const fresh = Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
if (!fresh || given.length !== mac.length || !timingSafeEqual(Buffer.from(mac), given)) return res.status(401).end();
for (const e of JSON.parse(rawBody)) {
  if (e.type === "portcullis.audit_gap") onGap(e); // from_seq..to_seq gone for good; reason: "retention" | "missing"
  else if (e.type) continue; // a test delivery
  else if (BigInt(e.seq) > lastSeq) store(e); // dedup by seq
}
return res.status(200).end();`;
