#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine: installs what the
# tests need (the real peers: skopeo, the CNCF registry, docker-compose,
# python3-docker; Debian's chromium for the dashboard's browser tests), builds,
# typechecks, then runs unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="skopeo docker-registry python3-docker docker-compose apache2-utils openssl curl wrk openssh-server chromium debootstrap" bash scripts/install.sh
node_modules/.bin/tsc -p tsconfig.json
# The dashboard is browser code (DOM, JSX): its own compiler settings.
node_modules/.bin/tsc -p src/ui/tsconfig.json
# The layering rules (.dependency-cruiser.cjs): a back edge fails the run.
node_modules/.bin/node node_modules/dependency-cruiser/bin/dependency-cruise.mjs src --config .dependency-cruiser.cjs --output-type err
exec node_modules/.bin/node --test --test-concurrency=2 --test-timeout=300000 \
  'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' 'test/registry/**/*.test.ts'
