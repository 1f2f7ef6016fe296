#!/usr/bin/env bash
# Generates the Prisma client into packages/db/src/generated. The Prisma CLI insists on a
# schema-engine binary it would download; generation never runs it, so any existing file will do.
set -euo pipefail
cd "$(dirname "$0")/.."
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$(command -v node)}"
export PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
exec ./packages/db/node_modules/.bin/prisma generate --schema prisma/schema.prisma "$@"
