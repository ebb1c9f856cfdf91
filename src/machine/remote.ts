// What berth puts on a machine, and the shell it runs there. Layout:
//   /opt/berth/{dist,node}       the package copied from this host (BUILD names it)
//   /usr/local/bin/berth         → /opt/berth/dist/berth (and `docker`, if the host has none,
//                                  so `docker -H ssh://…` finds `docker system dial-stdio`)
//   /etc/berth/machine/          daemon.json, ca.pem, server.pem, server-key.pem, berth-service
//   /etc/systemd/system/berth.service   where systemd runs the host
// The daemon serves unix:///run/berth.sock and tcp://0.0.0.0:2376 with --tlsverify.
import { parseReach, REACH_SCRIPT, type Reach } from './reach.ts';
import { ENGINE_PORT } from './store.ts';

export const INSTALL_DIR = '/opt/berth';
export const CONF_DIR = '/etc/berth/machine';
export const SERVICE = `${CONF_DIR}/berth-service`;
const PIDFILE = '/run/berth-machine.pid';
const LOG = '/var/log/berth.log';

/** Debian packages the daemon runs with (install.sh's runtime list, less the build tools). */
export const RUNTIME_PACKAGES = ['runc', 'tini', 'iptables', 'iproute2', 'xz-utils', 'zstd', 'libatomic1', 'ca-certificates'];

export function daemonJson(): string {
  return JSON.stringify({
    hosts: ['unix:///run/berth.sock', `tcp://0.0.0.0:${ENGINE_PORT}`],
    tlsverify: true,
    tlscacert: `${CONF_DIR}/ca.pem`,
    tlscert: `${CONF_DIR}/server.pem`,
    tlskey: `${CONF_DIR}/server-key.pem`,
  }, null, 2) + '\n';
}

export const SYSTEMD_UNIT = `[Unit]
Description=berth container engine (berth machine)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=${INSTALL_DIR}/dist/berth daemon --config-file ${CONF_DIR}/daemon.json
# Containers' monitors outlive a daemon restart: only the daemon is stopped.
KillMode=process
Delegate=yes
LimitNOFILE=1048576
Restart=on-failure

[Install]
WantedBy=multi-user.target
`;

/**
 * start|stop|restart|status of the remote daemon: systemctl where systemd
 * runs the host, else a background process with a pidfile.
 */
export const SERVICE_SCRIPT = `#!/bin/sh
# berth machine's service: the berth daemon under systemd, or in the background with a pidfile.
set -e
# wait: until the daemon itself listens on :${ENGINE_PORT} (up to 60 s); if it dies first, its log's tail and status 1.
listens() { ss -Hltnp "sport = :${ENGINE_PORT}" 2>/dev/null | grep -q "pid=$1,"; }
if [ -d /run/systemd/system ]; then
  case "$1" in
    status) systemctl is-active --quiet berth && echo running || echo stopped ;;
    wait)
      i=0
      while :; do
        pid=$(systemctl show -p MainPID --value berth)
        [ "$pid" != 0 ] && listens "$pid" && exit 0
        i=$((i + 1))
        if [ $i -gt 600 ] || ! systemctl is-active --quiet berth; then
          journalctl -u berth -n 5 --no-pager -o cat >&2 || true
          exit 1
        fi
        sleep 0.1
      done ;;
    *) systemctl "$1" berth ;;
  esac
  exit 0
fi
running() { [ -f ${PIDFILE} ] && kill -0 "$(cat ${PIDFILE})" 2>/dev/null; }
wait_up() {
  i=0
  while :; do
    running && listens "$(cat ${PIDFILE})" && return 0
    i=$((i + 1))
    if [ $i -gt 600 ] || ! running; then
      echo "the berth daemon did not come up; the end of ${LOG}:" >&2
      tail -n 3 ${LOG} >&2
      return 1
    fi
    sleep 0.1
  done
}
start() {
  running && return 0
  setsid ${INSTALL_DIR}/dist/berth daemon --config-file ${CONF_DIR}/daemon.json </dev/null >>${LOG} 2>&1 &
  echo $! >${PIDFILE}
}
stop() {
  running || { rm -f ${PIDFILE}; return 0; }
  pid=$(cat ${PIDFILE})
  kill -TERM "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 300 ] && { kill -KILL "$pid"; break; }
    sleep 0.1
  done
  rm -f ${PIDFILE}
}
case "$1" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) running && echo running || echo stopped ;;
  wait) wait_up ;;
  *) echo "usage: $0 start|stop|restart|status|wait" >&2; exit 2 ;;
esac
`;

/** First look at a host: its os-release, architecture, missing packages, the package it has, its init, its user (and, asked, which registries it reaches). */
export function probeScript(o: { reach: boolean }): string {
  return (o.reach ? REACH_SCRIPT : '') + PROBE_SCRIPT;
}

const PROBE_SCRIPT = `
echo "@uid $(id -u)"
# Not root: berth's steps go through sudo, which must not ask for a password (BatchMode: nobody to type it).
[ "$(id -u)" = 0 ] || { sudo -n true >/dev/null 2>&1 && echo "@sudo"; }
echo "@arch $(uname -m)"
[ -d /run/systemd/system ] && echo "@systemd"
[ -f ${INSTALL_DIR}/BUILD ] && echo "@build $(cat ${INSTALL_DIR}/BUILD)"
if command -v dpkg-query >/dev/null 2>&1; then
  for p in ${RUNTIME_PACKAGES.join(' ')}; do
    dpkg-query -W -f='\${Status}\\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "@missing $p"
  done
fi
echo "@os-release"
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true
`;

export interface HostFacts {
  uid: number;
  /** A user other than root may run sudo without a password. */
  sudo: boolean;
  /** Whether the apt mirror and npm's registry answer (over HTTPS, trusted); undefined when not probed. */
  apt?: Reach;
  npm?: Reach;
  arch: string;
  systemd: boolean;
  build?: string;
  missing: string[];
  osRelease: Record<string, string>;
  hasOsRelease: boolean;
}

export function parseProbe(out: string): HostFacts {
  const facts: HostFacts = { uid: -1, sudo: false, arch: '', systemd: false, missing: [], osRelease: {}, hasOsRelease: false };
  const lines = out.split('\n');
  let i = 0;
  for (; i < lines.length; i++) {
    const l = lines[i];
    if (l === '@os-release') break;
    const [tag, ...rest] = l.split(' ');
    const v = rest.join(' ');
    if (tag === '@uid') facts.uid = Number(v);
    else if (tag === '@sudo') facts.sudo = true;
    else if (tag === '@reach') {
      const r = parseReach(rest);
      if (r) facts[r.what] = r.reach;
    }
    else if (tag === '@arch') facts.arch = v;
    else if (tag === '@systemd') facts.systemd = true;
    else if (tag === '@build') facts.build = v;
    else if (tag === '@missing') facts.missing.push(v);
  }
  for (const l of lines.slice(i + 1)) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(l.trim());
    if (!m) continue;
    facts.hasOsRelease = true;
    facts.osRelease[m[1]] = m[2].replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return facts;
}

export function installPackagesScript(pkgs: string[]): string {
  return `export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends ${pkgs.join(' ')} >/dev/null`;
}

const INSTALL_HEAD = `set -e
umask 022
mkdir -p /opt ${CONF_DIR}
chmod 700 ${CONF_DIR}
t=$(mktemp -d /opt/.berth-machine.XXXXXX)
trap 'rm -rf "$t"' EXIT
tar -xzf - -C "$t"
[ -x ${SERVICE} ] && ${SERVICE} stop || true
`;

const INSTALL_TAIL = `mkdir -p /usr/local/bin
ln -sfn ${INSTALL_DIR}/dist/berth /usr/local/bin/berth
command -v docker >/dev/null 2>&1 || ln -sfn ${INSTALL_DIR}/dist/berth /usr/local/bin/docker
for f in daemon.json ca.pem server.pem server-key.pem berth-service; do
  install -m 600 "$t/machine/$f" ${CONF_DIR}/.$f.new
  mv ${CONF_DIR}/.$f.new ${CONF_DIR}/$f
done
chmod 700 ${SERVICE}
if [ -d /run/systemd/system ]; then
  install -m 644 "$t/machine/berth.service" /etc/systemd/system/berth.service
  systemctl daemon-reload
  systemctl enable --quiet berth
fi
${SERVICE} start
${SERVICE} wait
`;

/**
 * The copy: unpacks the tar on stdin (pkg/ when the package is sent,
 * machine/ always), stops a daemon this tool started before, swaps the
 * package in whole, puts the configuration in place and starts the daemon.
 */
export const INSTALL_SCRIPT = `${INSTALL_HEAD}if [ -d "$t/pkg" ]; then
  rm -rf ${INSTALL_DIR}.old
  [ -e ${INSTALL_DIR} ] && mv ${INSTALL_DIR} ${INSTALL_DIR}.old
  mv "$t/pkg" ${INSTALL_DIR}
  rm -rf ${INSTALL_DIR}.old
fi
${INSTALL_TAIL}`;

const SCRIPT_LOG = '/var/log/berth-install.log';

/**
 * The install script: berth's source tree (src/ of the tar) becomes
 * ${INSTALL_DIR} and the README's scripts/install.sh runs there, as a user
 * would run it: Debian packages from the host's mirror, npm ci from the
 * registry (npm itself from Debian when the host has none), the build, the
 * links. install.sh seeds busybox through a default daemon it starts on
 * demand; that one is stopped before the machine's service starts its own.
 */
export const SCRIPT_INSTALL_SCRIPT = `${INSTALL_HEAD}export DEBIAN_FRONTEND=noninteractive
: >${SCRIPT_LOG}
# The log's first error lines say why (a stack trace's tail is braces); else its last lines.
fail() {
  echo "$1; from ${SCRIPT_LOG}:" >&2
  grep -m 3 -E '(^|[^[:alnum:]])(E:|ERR!|[A-Za-z]*Error:|error:)' ${SCRIPT_LOG} >&2 || tail -n 5 ${SCRIPT_LOG} >&2
  exit 1
}
if ! command -v npm >/dev/null 2>&1; then
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends npm; } >>${SCRIPT_LOG} 2>&1 || fail "apt-get could not install npm"
fi
rm -rf ${INSTALL_DIR}.old
[ -e ${INSTALL_DIR} ] && mv ${INSTALL_DIR} ${INSTALL_DIR}.old
mv "$t/src" ${INSTALL_DIR}
rm -rf ${INSTALL_DIR}.old
(cd ${INSTALL_DIR} && bash scripts/install.sh) >>${SCRIPT_LOG} 2>&1 || fail "scripts/install.sh failed"
if [ -f /run/berth.pid ] && kill "$(cat /run/berth.pid)" 2>/dev/null; then
  while [ -f /run/berth.pid ] && kill -0 "$(cat /run/berth.pid)" 2>/dev/null; do sleep 0.1; done
fi
cp "$t/BUILD" ${INSTALL_DIR}/BUILD
${INSTALL_TAIL}`;

/** Puts new server TLS material (and CA) in place and restarts the daemon with it. */
export const RECERT_SCRIPT = `set -e
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
tar -xzf - -C "$t"
for f in ca.pem server.pem server-key.pem; do
  install -m 600 "$t/machine/$f" ${CONF_DIR}/.$f.new
  mv ${CONF_DIR}/.$f.new ${CONF_DIR}/$f
done
${SERVICE} restart
${SERVICE} wait
`;

/** Undoes INSTALL_SCRIPT: the daemon stopped, its service and configuration gone. The data root stays. */
export const UNINSTALL_SCRIPT = `
[ -x ${SERVICE} ] && ${SERVICE} stop
if [ -f /etc/systemd/system/berth.service ]; then
  systemctl disable --quiet berth 2>/dev/null || true
  rm -f /etc/systemd/system/berth.service
  systemctl daemon-reload 2>/dev/null || true
fi
rm -rf ${CONF_DIR}
rmdir /etc/berth 2>/dev/null
[ "$(readlink /usr/local/bin/docker)" = ${INSTALL_DIR}/dist/berth ] && rm -f /usr/local/bin/docker
[ "$(readlink /usr/local/bin/berth)" = ${INSTALL_DIR}/dist/berth ] && rm -f /usr/local/bin/berth
# install.sh's link (the script install)
p=/usr/local/lib/docker/cli-plugins/docker-compose
[ "$(readlink $p)" = ${INSTALL_DIR}/dist/berth ] && rm -f $p
rm -rf ${INSTALL_DIR}
true
`;
