// The OCI runtime-spec config.json of a container, with Docker's defaults
// (moby's oci/defaults.go and daemon/oci_linux.go): namespaces, capabilities,
// masked and read-only paths, mounts, devices, seccomp, rlimits, resources.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.ts';
import type { HostConfig } from '../api/container.ts';
import { seccompFor, type OciSeccomp } from './seccomp.ts';
import { resolveUser } from './user.ts';
import { linuxResources } from './resources.ts';
import { hostHasAppArmor, parseSecurityOpts } from './security-opts.ts';
import { specMappings, type IdMapping, type IdRange } from './userns.ts';
import { deviceRules, hostDevices, mappedDevices, type DeviceRule, type OciDevice } from './devices.ts';

export interface SpecInput {
  id: string;
  rootfsPath: string;
  /** Where to read /etc/passwd and /etc/group: the rootfs, or its layers top first before it is mounted. */
  lookupDirs?: string[];
  args: string[];
  env: string[];
  cwd: string;
  tty: boolean;
  openStdin: boolean;
  user: string;
  hostname: string;
  domainname?: string;
  hostConfig: HostConfig;
  hostsPath: string;
  hostnamePath: string;
  resolvConfPath: string;
  cgroupsPath: string;
  netns: { kind: 'new' } | { kind: 'host' } | { kind: 'path'; path: string };
  /** Namespaces joined rather than made (--ipc/--pid container:X), and the /dev/shm shared with them. */
  joined?: { ipc?: string; pid?: string; shm?: string };
  initPath?: string;
  stopSignal?: string;
  /** The container's resolved binds, volumes and --mount tmpfs (containers/mounts.ts); they replace defaults at their destination. */
  mounts?: OciMount[];
  /** `shared` or `rslave` when a bind asks for that propagation. */
  rootfsPropagation?: string;
  /** Mounts beyond the container's own (a build step's RUN --mount), after all others. */
  extraMounts?: OciMount[];
  /** userns-remap: the container's own user namespace with these maps (absent for --userns=host). */
  userns?: IdMapping;
  /**
   * The user namespace to join: made with the container's network namespace,
   * which it owns, or a donor's (--net/--ipc/--pid container:X); a new one
   * otherwise. Only the owner of a network namespace can mount sysfs for it
   * and runc exec into it.
   */
  usernsPath?: string;
}

export interface OciMount { destination: string; type: string; source: string; options: string[] }

export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits?: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
    apparmorProfile?: string;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string; path?: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    resources: Record<string, unknown> & { devices: DeviceRule[] };
    devices?: OciDevice[];
    cgroupsPath: string;
    sysctl?: Record<string, string>;
    seccomp?: OciSeccomp;
    rootfsPropagation?: string;
    uidMappings?: IdRange[];
    gidMappings?: IdRange[];
  };
}

export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

let available: string[] | undefined;

/**
 * Every capability this environment can grant (as moby's GetAllCapabilities):
 * those in the daemon's own bounding set, so `--privileged` works where the
 * host itself runs with some capabilities dropped.
 */
export function allAvailableCaps(): string[] {
  if (available) return available;
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const bnd = m ? BigInt('0x' + m[1]) : -1n;
  available = ALL_CAPS.filter((_, i) => bnd === -1n || ((bnd >> BigInt(i)) & 1n) === 1n);
  return available;
}

const MASKED = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Docker's device cgroup allow list: nothing, except mknod and the usual character devices. */
const DEVICE_RULES: DeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

function normalizeCap(c: string): string {
  const up = c.toUpperCase();
  if (up === 'ALL') return 'ALL';
  const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPS.includes(name)) throw new InvalidArgumentError(`invalid CapAdd: unknown capability: "${name}"`);
  return name;
}

/** Docker's TweakCapabilities: defaults, then --cap-drop, then --cap-add (ALL allowed in both). */
export function capabilities(add: string[] = [], drop: string[] = [], privileged = false): string[] {
  if (privileged) return [...allAvailableCaps()];
  const a = add.map(normalizeCap);
  const d = drop.map(normalizeCap);
  let caps = d.includes('ALL') ? [] : DEFAULT_CAPS.filter((c) => !d.includes(c));
  if (a.includes('ALL')) caps = allAvailableCaps().filter((c) => !d.includes(c) || a.includes(c));
  for (const c of a) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps;
}

/** The host's hard limits, which a container's rlimits may not exceed. */
function hostHardLimits(): Map<string, number> {
  const names: Record<string, string> = {
    'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA', 'Max stack size': 'RLIMIT_STACK',
    'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS', 'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE',
    'Max locked memory': 'RLIMIT_MEMLOCK', 'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
    'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO', 'Max realtime timeout': 'RLIMIT_RTTIME',
  };
  const out = new Map<string, number>();
  try {
    for (const line of readFileSync('/proc/self/limits', 'utf8').split('\n').slice(1)) {
      const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
      if (m && names[m[1]]) out.set(names[m[1]], m[3] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[3]));
    }
  } catch {
    // No /proc: leave limits unclamped.
  }
  return out;
}

function rlimits(ulimits: HostConfig['Ulimits']): RuntimeSpec['process']['rlimits'] {
  if (!ulimits?.length) return undefined;
  const host = hostHardLimits();
  return ulimits.map((u) => {
    const type = `RLIMIT_${u.Name.toUpperCase()}`;
    const max = host.get(type) ?? Number.MAX_SAFE_INTEGER;
    const hard = u.Hard < 0 ? max : Math.min(u.Hard, max);
    const soft = u.Soft < 0 ? hard : Math.min(u.Soft, hard);
    return { type, hard, soft };
  });
}

/** /dev/shm by IPC mode: its own tmpfs, the host's or the donor's (host, container:X), none for `none`. */
function shmMount(ipcMode: string | undefined, size: number, shared: string | undefined): OciMount[] {
  if (ipcMode === 'none') return [];
  if (ipcMode === 'host') return [{ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] }];
  if (shared) return [{ destination: '/dev/shm', type: 'bind', source: shared, options: ['rbind', 'rprivate'] }];
  return [{ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${size}`] }];
}

function tmpfsMounts(tmpfs: HostConfig['Tmpfs']): OciMount[] {
  return Object.entries(tmpfs ?? {}).map(([dest, opts]) => ({
    destination: dest, type: 'tmpfs', source: 'tmpfs',
    options: ['noexec', 'nosuid', 'nodev', 'rprivate', ...(opts ? opts.split(',') : [])],
  }));
}

const depth = (m: OciMount) => m.destination.split('/').length;

/**
 * dockerd's withMounts: the defaults, less those a user mount replaces (and
 * all of /dev's when /dev itself is user-mounted), then the user's mounts
 * with the network files (unless replaced too), shallowest first.
 */
function mergeMounts(defaults: OciMount[], network: OciMount[], user: OciMount[]): OciMount[] {
  const dests = new Set(user.map((m) => m.destination));
  const dev = dests.has('/dev');
  const kept = defaults.filter((m) => !dests.has(m.destination) && !(dev && m.destination.startsWith('/dev/')));
  const all = [...user, ...network.filter((m) => !dests.has(m.destination))];
  return [...kept, ...all.sort((a, b) => depth(a) - depth(b))];
}

export function buildSpec(input: SpecInput): RuntimeSpec {
  const h = input.hostConfig;
  const privileged = h.Privileged === true;
  const caps = capabilities(h.CapAdd ?? [], h.CapDrop ?? [], privileged);
  const user = resolveUser(input.lookupDirs ?? [input.rootfsPath], input.user, h.GroupAdd ?? []);
  const env = [...input.env];
  if (!env.some((e) => e.startsWith('PATH='))) env.push('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
  if (input.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env.unshift(`HOSTNAME=${input.hostname}`);
  const security = parseSecurityOpts(h.SecurityOpt);
  const noNewPrivileges = security.noNewPrivileges;
  const shm = h.ShmSize && h.ShmSize > 0 ? h.ShmSize : 64 * 1024 * 1024;

  const mounts: OciMount[] = mergeMounts([
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...shmMount(h.IpcMode, shm, input.joined?.shm),
  ], [
    { destination: '/etc/resolv.conf', type: 'bind', source: input.resolvConfPath, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hostname', type: 'bind', source: input.hostnamePath, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hosts', type: 'bind', source: input.hostsPath, options: ['rbind', 'rprivate'] },
  ], [...(input.mounts ?? []), ...tmpfsMounts(h.Tmpfs)]);
  mounts.push(...(input.extraMounts ?? []));
  // As dockerd: a user namespace cannot remount the cgroup filesystem read-only.
  if (input.userns) for (const m of mounts) if (m.type === 'cgroup') m.options = m.options.map((o) => (o === 'ro' ? 'rw' : o));
  let args = input.args;
  if (input.initPath) {
    mounts.push({ destination: '/sbin/docker-init', type: 'bind', source: input.initPath, options: ['bind', 'ro'] });
    args = ['/sbin/docker-init', '--', ...args];
  }

  const namespaces: { type: string; path?: string }[] = [{ type: 'mount' }];
  if (input.userns) namespaces.push(input.usernsPath ? { type: 'user', path: input.usernsPath } : { type: 'user' });
  const joined = input.joined ?? {};
  if (h.PidMode !== 'host') namespaces.push(joined.pid ? { type: 'pid', path: joined.pid } : { type: 'pid' });
  if (h.IpcMode !== 'host' && !(h.IpcMode?.startsWith('container:') && !joined.ipc)) namespaces.push(joined.ipc ? { type: 'ipc', path: joined.ipc } : { type: 'ipc' });
  if (h.UTSMode !== 'host') namespaces.push({ type: 'uts' });
  if (h.CgroupnsMode === 'private') namespaces.push({ type: 'cgroup' });
  if (input.netns.kind === 'new') namespaces.push({ type: 'network' });
  if (input.netns.kind === 'path') namespaces.push({ type: 'network', path: input.netns.path });

  // --privileged: every host device, every access; otherwise Docker's list plus --device and --device-cgroup-rule.
  const mapped = (h.Devices ?? []).flatMap((m) => mappedDevices(m).map((dev) => ({ dev, access: m.CgroupPermissions || 'rwm' })));
  const devices = privileged ? hostDevices() : mapped.map((m) => m.dev);
  const resources: RuntimeSpec['linux']['resources'] = {
    ...linuxResources(h),
    devices: privileged ? [{ allow: true, access: 'rwm' }] : deviceRules(DEVICE_RULES, mapped, h.DeviceCgroupRules),
  };

  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: input.tty,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
      args,
      env,
      cwd: input.cwd || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: rlimits(h.Ulimits),
      noNewPrivileges,
      ...(security.apparmor && hostHasAppArmor() ? { apparmorProfile: security.apparmor } : {}),
      ...(h.OomScoreAdj ? { oomScoreAdj: h.OomScoreAdj } : {}),
    },
    root: { path: input.rootfsPath, readonly: h.ReadonlyRootfs === true },
    ...(h.UTSMode !== 'host' ? { hostname: input.hostname } : {}),
    ...(input.domainname ? { domainname: input.domainname } : {}),
    mounts,
    linux: {
      namespaces,
      ...(devices.length ? { devices } : {}),
      maskedPaths: privileged ? [] : h.MaskedPaths ?? MASKED,
      readonlyPaths: privileged ? [] : h.ReadonlyPaths ?? READONLY,
      resources,
      cgroupsPath: input.cgroupsPath,
      ...(h.Sysctls && Object.keys(h.Sysctls).length ? { sysctl: h.Sysctls } : {}),
      ...(input.rootfsPropagation ? { rootfsPropagation: input.rootfsPropagation } : {}),
      ...(input.userns ? specMappings(input.userns) : {}),
      ...((() => {
        const s = seccompFor(security.seccomp, caps, privileged);
        return s ? { seccomp: s } : {};
      })()),
    },
  };
}
