// Debian hosts for `berth machine`: each a privileged berth container of a
// TestDaemon, from a debootstrapped Debian 12 image with openssh-server and
// the Debian packages berth's daemon runs with, on its own address of the
// daemon's bridge, reached by SSH as root with a key made here. Its
// /var/lib/berth is a volume: the nested daemon's overlayfs cannot sit on the
// container's own overlay root. The rootfs is debootstrapped once (from
// deb.debian.org) and kept as a tar in /var/cache/berth-test/, shared by
// every test file and run; the hosts themselves reach nothing outside (no
// default route) unless made `online`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { BERTH, run, type TestDaemon } from './daemon.ts';

export const CACHE = process.env.BERTH_TEST_CACHE || '/var/cache/berth-test';
export const IMAGE = 'bt-machine-debian:12';
/** openssh-server and what src/machine/remote.ts's RUNTIME_PACKAGES lists: a host ready for berth. */
const PACKAGES = ['openssh-server', 'runc', 'tini', 'iptables', 'iproute2', 'xz-utils', 'zstd', 'libatomic1', 'ca-certificates', 'procps', 'sudo', 'systemd', 'systemd-sysv', 'dbus'];

export const debootstrapInstalled = (): boolean => existsSync('/usr/sbin/debootstrap');

/** The Debian 12 rootfs tar, debootstrapped on first use (one process at a time, under a lock). */
export function debianRootfs(): string {
  const key = createHash('sha256').update(PACKAGES.join(',')).digest('hex').slice(0, 12);
  const out = join(CACHE, `debian12-machine-${key}.tar`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE, { recursive: true });
  const script = `set -e
[ -f "$1" ] && exit 0
tmp=$(mktemp -d "$2/.rootfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
debootstrap --variant=minbase --include="$3" bookworm "$tmp/root" http://deb.debian.org/debian >"$tmp/log" 2>&1 || { tail -20 "$tmp/log" >&2; exit 1; }
chroot "$tmp/root" apt-get clean
rm -rf "$tmp/root"/var/lib/apt/lists/* "$tmp/root"/etc/ssh/ssh_host_*
tar -C "$tmp/root" -cf "$tmp/rootfs.tar" .
mv "$tmp/rootfs.tar" "$1"
`;
  const r = spawnSync('flock', [join(CACHE, '.debootstrap.lock'), 'sh', '-c', script, 'sh', out, CACHE, PACKAGES.join(',')], { encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`debootstrap failed: ${r.stderr}`);
  return out;
}

export interface MachineHost {
  name: string;
  addr: string;
  /** Private key root logs in with. */
  key: string;
  /** A key the host does not accept. */
  refusedKey: string;
  /** `sh -c` in the host container (not over ssh). */
  exec(script: string): { code: number; stdout: string; stderr: string };
  stop(): Promise<void>;
}

async function portOpen(addr: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, addr);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export interface MachineHostOptions {
  osRelease?: string;
  /** `-v` binds (the swarm tests' berth and etcd, read-only). */
  mounts?: string[];
  /**
   * Login users besides root, each with the host's key: `sudo` gives one
   * password-less sudo (as docker-machine requires of a user not root).
   */
  users?: Array<{ name: string; sudo: boolean }>;
  /** systemd as PID 1 (sshd one of its services), as on a real host. */
  systemd?: boolean;
  /**
   * Keep the default route, through the TestDaemon's NAT (the host then may
   * reach the apt mirror and npm's registry, as this machine does). Without
   * it the host reaches only its bridge: the registries are out of reach.
   */
  online?: boolean;
  /**
   * PEM certificates the host's admin has added to its trust store
   * (/usr/local/share/ca-certificates, then update-ca-certificates), as on a
   * host behind a proxy that re-signs HTTPS. `online` hosts get this
   * machine's own additions (localCaCerts()) unless told otherwise.
   */
  caCerts?: string[];
}

/**
 * The CAs this machine's admin added to its trust store: Debian's place for
 * them, /usr/local/share/ca-certificates. Here HTTPS goes out through a proxy
 * that re-signs it with one of them, so a host reaching out through this
 * machine needs them as this machine does.
 */
export function localCaCerts(): string[] {
  const dir = '/usr/local/share/ca-certificates';
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.crt')).sort().map((f) => readFileSync(join(dir, f), 'utf8'));
}

/**
 * A Debian host in a container of `d`. `osRelease` replaces its
 * /etc/os-release (a host that is not Debian, for the refusal); `mounts` are
 * `-v` binds (the swarm tests' berth and etcd, read-only).
 */
export async function startMachineHost(d: TestDaemon, name: string, o: MachineHostOptions = {}): Promise<MachineHost> {
  if (d.berth(['image', 'inspect', IMAGE]).code !== 0) {
    const imp = run('sh', ['-c', `exec "$0" -H "$1" import - "$2" < "$3"`, BERTH, d.host, IMAGE, debianRootfs()], { timeout: 300_000 });
    if (imp.code !== 0) throw new Error(`import of the Debian rootfs failed: ${imp.stderr}`);
  }
  const dir = mkdtempSync('/tmp/bt-mhost-');
  for (const k of ['key', 'refused']) {
    if (spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(dir, k)]).status !== 0) throw new Error('ssh-keygen failed');
  }
  const start = [
    'set -e',
    o.osRelease !== undefined ? 'rm -f /etc/os-release /usr/lib/os-release && printf "%s" "$OS_RELEASE" > /etc/os-release' : ':',
    'mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh',
    'printf "%s\\n" "$AUTH_KEY" > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys',
    // Each host its own host keys: the cached rootfs has none.
    'ssh-keygen -A >/dev/null',
    o.online ? ':' : 'ip route del default',
    // The admin's CAs, one file each, as update-ca-certificates wants them.
    'if [ -n "$CA_CERTS" ]; then printf "%s\\n" "$CA_CERTS" | awk \'/BEGIN CERTIFICATE/{n++} {print > ("/usr/local/share/ca-certificates/berth-test-" n ".crt")}\' && update-ca-certificates >/dev/null; fi',
    ...(o.users ?? []).flatMap((u) => [
      `useradd -m -s /bin/bash ${u.name}`,
      `mkdir -p -m 700 /home/${u.name}/.ssh && cp /root/.ssh/authorized_keys /home/${u.name}/.ssh/ && chown -R ${u.name}: /home/${u.name}/.ssh`,
      ...(u.sudo ? [`echo '${u.name} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${u.name} && chmod 440 /etc/sudoers.d/${u.name}`] : []),
    ]),
    // systemd: its own start of sshd (Debian's ssh.service); the container's /run a tmpfs of its own.
    o.systemd ? 'exec /lib/systemd/systemd' : 'exec /usr/sbin/sshd -D -e',
  ].join('\n');
  const caCerts = o.caCerts ?? (o.online ? localCaCerts() : []);
  const r = d.berth(['run', '-d', '--privileged', '--name', name, '--hostname', name, '-v', `${name}-data:/var/lib/berth`,
    ...(o.mounts ?? []).flatMap((m) => ['-v', m]),
    ...(o.systemd ? ['--tmpfs', '/run', '--tmpfs', '/run/lock', '-e', 'container=berth', '--stop-signal', 'SIGRTMIN+3'] : []),
    '-e', `AUTH_KEY=${readFileSync(join(dir, 'key.pub'), 'utf8').trim()}`, ...(o.osRelease !== undefined ? ['-e', `OS_RELEASE=${o.osRelease}`] : []),
    ...(caCerts.length ? ['-e', `CA_CERTS=${caCerts.map((c) => c.trim()).join('\n')}`] : []),
    IMAGE, 'sh', '-c', start]);
  if (r.code !== 0) throw new Error(`host container ${name}: ${r.stderr}`);
  const addr = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', name]).stdout.trim();
  const stop = async (): Promise<void> => {
    d.berth(['rm', '-f', name], { timeout: 120_000 });
    d.berth(['volume', 'rm', `${name}-data`]);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; !(await portOpen(addr, 22)); i++) {
    if (i > 300) {
      const logs = d.berth(['logs', name]);
      await stop();
      throw new Error(`sshd on ${name} (${addr}) did not start: ${logs.stdout}${logs.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    name,
    addr,
    key: join(dir, 'key'),
    refusedKey: join(dir, 'refused'),
    exec: (script) => d.berth(['exec', name, 'sh', '-c', script], { timeout: 120_000 }),
    stop,
  };
}
