# syntax=docker/dockerfile:1
# One image, five roles (scripts/docker-entrypoint.sh): web, gateway, worker and the one-shots migrate
# and seed-demo. docker-compose.yml and deploy/helm/portcullis run it; e2e/deploy checks that every
# file and stage this file names exists, and runs the entrypoint outside a container as the image does.
#   docker build -t portcullis:local .
ARG NODE_IMAGE=node:24-bookworm-slim

# ── base: Node 24, pnpm as the quick start gets it (npx, no corepack: it cannot download here) ────────
FROM ${NODE_IMAGE} AS base
ENV PNPM_VERSION=10.34.8 \
    CI=true \
    NEXT_TELEMETRY_DISABLED=1 \
    TURBO_TELEMETRY_DISABLED=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    CHECKPOINT_DISABLE=1
WORKDIR /app

# ── deps: the manifests and the lockfile only, so this layer is reused until a dependency changes ───
FROM base AS deps
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY apps/cli/package.json apps/cli/
COPY apps/gateway/package.json apps/gateway/
COPY apps/web/package.json apps/web/
COPY apps/worker/package.json apps/worker/
COPY packages/db/package.json packages/db/
COPY packages/jobs/package.json packages/jobs/
COPY packages/oauth/package.json packages/oauth/
COPY packages/policy/package.json packages/policy/
COPY packages/telemetry/package.json packages/telemetry/
COPY e2e/package.json e2e/
# The e2e package (Playwright, two Node binaries, MCP inspectors: several hundred MB) is left out; the
# root project stays in: tsx, which runs the apps from their TypeScript sources, is a root devDependency.
RUN npx -y pnpm@${PNPM_VERSION} install --frozen-lockfile --filter '!@portcullis/e2e' --reporter=append-only

# ── build: sources, the Prisma client (scripts/prisma-generate.sh), the dashboard's production build ─
FROM deps AS build
COPY tsconfig.base.json turbo.json prisma.config.ts ./
COPY prisma prisma
COPY scripts scripts
COPY packages packages
COPY apps apps
# `prisma generate` never runs the schema engine it insists on; the script points it at `node`.
RUN bash scripts/prisma-generate.sh
# No settings at build time: the dashboard reads them per request (apps/web/src/lib/env.ts); a build
# with an empty environment compiled (its type check then stopped on other work in progress).
RUN cd apps/web && node_modules/.bin/next build --webpack \
 && rm -rf .next/cache

# ── prod-deps: production dependencies only (from the store the deps stage filled), plus tsx ──────
# The apps run from their TypeScript sources through tsx, a root devDependency: its directories (and
# esbuild's) are kept aside, the tree is reinstalled with --prod, and they are put back. About 240 MB
# less than the full install; e2e/deploy ran every role from a tree assembled this way.
FROM deps AS prod-deps
RUN KEEP="$(mktemp -d)" \
 && cp -a node_modules/.pnpm/tsx@* node_modules/.pnpm/esbuild@* node_modules/.pnpm/@esbuild+linux-* "$KEEP/" \
 && TSX_LINK="$(readlink node_modules/tsx)" \
 && rm -rf node_modules apps/*/node_modules packages/*/node_modules \
 && npx -y pnpm@${PNPM_VERSION} install --frozen-lockfile --prod --offline --filter '!@portcullis/e2e' --reporter=append-only \
 && cp -an "$KEEP/." node_modules/.pnpm/ \
 && ln -sfn "$TSX_LINK" node_modules/tsx \
 && rm -rf "$KEEP" \
 && node --import tsx -e 'process.exit(0)'

# ── runtime: production dependencies, the sources, the generated client and the dashboard build ──────
FROM base AS runtime
ENV NODE_ENV=production \
    GATEWAY_AUDIT_SPOOL_DIR=/var/lib/portcullis/spool \
    PORTCULLIS_DATA_DIR=/var/lib/portcullis \
    WEB_HOST=0.0.0.0 \
    GATEWAY_HOST=0.0.0.0
COPY --from=prod-deps /app /app
# Sources from the build context (.dockerignore keeps node_modules and builds out, so the production
# node_modules above stay), then what the build stage made.
COPY tsconfig.base.json prisma.config.ts ./
COPY prisma prisma
COPY scripts scripts
COPY packages packages
COPY apps apps
COPY --from=build /app/packages/db/src/generated /app/packages/db/src/generated
COPY --from=build /app/apps/web/.next /app/apps/web/.next
# The only places the apps write: the gateway's audit journal (mount a persistent volume on it), the
# worker's file audit sinks (AUDIT_EXPORT_DIR, for a SIEM agent), the demo seed's key file, Next.js's runtime cache and tsx's compile cache (under /tmp). The tree itself
# stays root's and read-only to the app's user.
RUN mkdir -p /var/lib/portcullis/spool /var/lib/portcullis/audit-export /app/apps/web/.next/cache \
 && chown -R 1000:1000 /var/lib/portcullis /app/apps/web/.next/cache \
 && chmod 0700 /var/lib/portcullis /var/lib/portcullis/spool \
 && chmod 0750 /var/lib/portcullis/audit-export
# `node` (uid 1000) of the base image, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000 3001 3002 3003
VOLUME ["/var/lib/portcullis/spool"]
# The role's readiness endpoint: gateway /readyz, worker /readyz (metrics port), web /api/health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["/app/scripts/docker-entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["gateway"]
