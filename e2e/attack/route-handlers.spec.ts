import { readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import { expect, test } from "@playwright/test";
import { readSurface, runDistDir, type RouteHandler, type Surface } from "../support/dashboard-surface";
import { HttpActor } from "../support/attacker-http";
import { withoutWorkerBookkeeping } from "./bookkeeping";
import { leaks } from "./run-attacks";
import { ensureVictimProvider } from "./victim-provider";
import { describeChange, diffSnapshots, judge, protectedIds, settle, snapshotMetadata } from "../support/tenant-snapshot";
import { seedVictimWorld, targetChecksum, type VictimWorld } from "../support/victim-world";
import { webUrl } from "../support/stack";

/**
 * The surface is read from the build and the sources; the suite fails when something exists that it
 * cannot map. Then every exported method of every route handler gets hostile paths, query strings and
 * bodies from an outsider and from nobody: no effect on the victim, none of its data, no 500.
 */


let surface: Surface;
let w: VictimWorld;

test.beforeAll(async () => {
  surface = readSurface(runDistDir());
  w = await seedVictimWorld();
  // Its identity provider too: a route that printed the provider's name to an outsider is a leak.
  await ensureVictimProvider(w);
});


test("every server action and route handler in the build maps to the sources (and so is attacked)", () => {
  expect(surface.problems, surface.problems.join("\n")).toEqual([]);
  expect(surface.actions.length).toBeGreaterThan(0);
  expect(surface.routes.length).toBeGreaterThan(0);
  // Every action has a page to be posted to, so the action spec reaches it.
  for (const a of surface.actions) expect(a.pages.length, `${a.file}#${a.name} is in no page bundle`).toBeGreaterThan(0);
});

const OPERATOR_JSON = { teamId: { not: "00000000-0000-0000-0000-000000000000" }, slug: { contains: "" }, client_id: { gt: "" }, token: { startsWith: "" }, grant_type: ["authorization_code"], where: {}, include: { team: true } };

function segmentValues(route: RouteHandler): string[][] {
  // Each dynamic segment gets: the victim's real value, operator-looking text, a NUL byte, junk.
  return route.route
    .split("/")
    .filter(Boolean)
    .map((seg) => {
      if (seg === "[slug]") return [w.slug, encodeURIComponent('{"not":"x"}'), "%00", "x".repeat(300), encodeURIComponent(w.slug + "\u0000")];
      if (/^\[\.\.\./.test(seg)) return ["session", "csrf", "providers", "callback/credentials", "signin/credentials", "x%00", "..%2F..%2Fapi%2Fhealth"];
      if (/^\[/.test(seg)) return [w.linkId, "%00", encodeURIComponent('{"in":[]}')];
      return [seg];
    });
}

function paths(route: RouteHandler): string[] {
  let out = [""];
  for (const values of segmentValues(route)) out = out.flatMap((prefix) => values.map((v) => `${prefix}/${v}`));
  return out.slice(0, 12);
}

const QUERIES = () => [
  "",
  `?teamId=${w.teamId}&format=csv`,
  "?teamId[not]=x&slug[contains]=&format=json&from=0001-01-01&to=9999-12-31",
  `?format=json&q=%00&from=-271821-04-20&to=275760-09-13&bucket=1ms`,
  "?format=csv&q=" + encodeURIComponent("' OR 1=1 --") + "&verdict=allowed&verdict=blocked&limit=100000000",
];

function bodies(): Array<{ label: string; type: string; body: string }> {
  return [
    { label: "operator JSON", type: "application/json", body: JSON.stringify(OPERATOR_JSON) },
    { label: "victim ids JSON", type: "application/json", body: JSON.stringify({ teamId: w.teamId, linkId: w.linkId, grant_id: w.grantId, token: w.invitationToken, client_id: w.grantId }) },
    { label: "array JSON", type: "application/json", body: JSON.stringify([OPERATOR_JSON]) },
    { label: "wrong types JSON", type: "application/json", body: JSON.stringify({ redirect_uris: 1, client_name: { not: "" }, grant_type: null, code: true }) },
    { label: "form with operators", type: "application/x-www-form-urlencoded", body: "grant_type=authorization_code&code[not]=x&client_id[contains]=&token[gt]=&teamId[not]=x" },
    { label: "form with NUL", type: "application/x-www-form-urlencoded", body: `grant_type=refresh_token&refresh_token=%00&token=${w.invitationToken}%00&client_id=%00` },
    { label: "NUL JSON", type: "application/json", body: JSON.stringify({ client_name: "a\u0000b", redirect_uris: ["http://127.0.0.1/\u0000"] }) },
    { label: "not JSON", type: "application/json", body: '{"client_name":' },
    { label: "2 MB JSON", type: "application/json", body: JSON.stringify({ client_name: "x".repeat(2_000_000), redirect_uris: ["http://127.0.0.1/cb"] }) },
  ];
}


for (const kind of ["outsider", "signed-out"] as const) {
  test(`every route handler method, attacked as ${kind}`, async () => {
    test.setTimeout(240_000);
    const actor: HttpActor = kind === "outsider" ? w.actors.outsider : new HttpActor("signed-out");
    const findings: string[] = [];
    const metaUrl = process.env.DATABASE_URL!;
    await settle(metaUrl);
    for (const route of surface.routes) {
      const before = await snapshotMetadata(metaUrl);
      const checksum = await targetChecksum(w.targetUrl);
      const requests: Array<{ label: string; url: string; init: RequestInit }> = [];
      for (const method of route.methods) {
        for (const p of paths(route)) {
          for (const q of QUERIES()) requests.push({ label: `${method} ${p}${q}`, url: p + q, init: { method } });
          if (!["GET", "HEAD", "OPTIONS"].includes(method)) {
            for (const b of bodies()) requests.push({ label: `${method} ${p} <${b.label}>`, url: p, init: { method, headers: { "content-type": b.type, origin: webUrl("") }, body: b.body } });
          }
        }
      }
      for (let i = 0; i < requests.length; i += 6) {
        await Promise.all(
          requests.slice(i, i + 6).map(async (r) => {
            try {
              const res = await actor.request(r.url, { ...r.init, signal: AbortSignal.timeout(30_000) });
              const text = await res.text();
              if (res.status >= 500) findings.push(`${route.route} ${r.label}: HTTP ${res.status} ${text.slice(0, 120).replace(/\s+/g, " ")}`);
              const sent = `${r.url} ${typeof r.init.body === "string" ? r.init.body : ""}`;
              for (const m of leaks(kind, text, sent)) findings.push(`${route.route} ${r.label}: response carried ${m}`);
            } catch (error) {
              findings.push(`${route.route} ${r.label}: no answer (${(error as Error).message})`);
            }
          }),
        );
      }
      const after = await snapshotMetadata(metaUrl);
      const ids = protectedIds(before, { userId: kind === "outsider" ? w.outsider.userId : null, ownTeamIds: kind === "outsider" ? [w.outsider.teamId] : [] });
      for (const ch of judge(withoutWorkerBookkeeping(diffSnapshots(before, after)), ids, kind === "outsider" ? w.outsider.userId : null)) findings.push(`${route.route}: ${describeChange(ch)}`);
      if ((await targetChecksum(w.targetUrl)) !== checksum) findings.push(`${route.route}: the victim's target database changed`);
      // The outsider's session may have been signed out by a hostile /api/auth call: sign back in.
      if (kind === "outsider" && !(await actor.signedIn())) await actor.signIn("correct horse battery staple");
    }
    expect(findings, findings.join("\n")).toEqual([]);
  });
}

/** Resident memory of the dashboard's process group (global setup starts it detached, as its own group). */
function webRss(): number {
  const state = JSON.parse(readFileSync(process.env.E2E_STATE_FILE!, "utf8")) as { pids: { web: number } };
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgrp !== state.pids.web) continue;
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${entry}/status`, "utf8"));
      total += Number(rss?.[1] ?? 0) * 1024;
    } catch {
      // the process went away
    }
  }
  return total;
}

/** Streams `total` bytes chunked; reports the answer and the dashboard's peak memory growth meanwhile. */
function streamChunked(url: string, total: number): Promise<{ status: number; growth: number }> {
  const base = webRss();
  let peak = base;
  const poll = setInterval(() => (peak = Math.max(peak, webRss())), 50);
  return new Promise<{ status: number }>((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (res) => {
      answered = true;
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on("error", (error) => (answered ? undefined : sent > 0 ? resolve({ status: 0 }) : reject(error)));
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    req.write('{"client_name":"');
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      if (!answered) req.end('"}');
    };
    pump();
    setTimeout(() => (answered ? undefined : (req.destroy(), resolve({ status: -1 }))), 90_000);
  }).then(async (r) => {
    await new Promise((done) => setTimeout(done, 300));
    clearInterval(poll);
    return { status: r.status, growth: Math.max(peak, webRss()) - base };
  });
}

test("POST route handlers do not hold an unbounded chunked body in memory", async () => {
  test.setTimeout(240_000);
  // Next's proxy clones at most 10 MB of a body; a handler that buffers the rest shows as ~the whole body.
  const TOTAL = 160 * 1024 * 1024;
  const LIMIT = 64 * 1024 * 1024;
  const findings: string[] = [];
  for (const route of surface.routes.filter((r) => r.methods.includes("POST") && !r.route.includes("["))) {
    const { status, growth } = await streamChunked(webUrl(route.route), TOTAL);
    const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
    if (status >= 500 || status === -1 || growth > LIMIT) findings.push(`${route.route}: answered ${status}; the dashboard grew by ${mib(growth)} during a ${mib(TOTAL)} chunked body`);
  }
  const health = await fetch(webUrl("/api/health"));
  expect(health.status).toBeLessThan(500);
  expect(findings, findings.join("\n")).toEqual([]);
});

test("the dashboard refuses an oversized or unmeasured body before Next.js reads it, pages and server actions included", async () => {
  const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
  // Several times each: the client is still writing when the answer comes, and must get it (not a broken pipe).
  for (const target of ["/oauth/token", "/sign-in", "/"]) {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(webUrl(target), { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: big });
      expect(res.status, target).toBe(413);
      expect(await res.text()).toContain("WEB_MAX_BODY_BYTES");
    }
  }
  const small = await fetch(webUrl("/oauth/token"), { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "grant_type=nope" });
  expect(small.status).toBe(400);
  expect(((await small.json()) as { error: string }).error).toBe("unsupported_grant_type");
});
