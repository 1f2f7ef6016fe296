// The discovery document must name a jwks_uri for strict OpenID parsers; we sign nothing (tokens
// are opaque and checked against the database), so the key set is honestly empty.
export function GET() {
  return Response.json({ keys: [] }, { headers: { "cache-control": "public, max-age=3600", "access-control-allow-origin": "*" } });
}
