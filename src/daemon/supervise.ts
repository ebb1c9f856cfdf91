// `berth daemon install|uninstall`: a systemd unit (and optionally a socket
// unit) so the daemon is restarted whenever it dies, as docker.service does
// for dockerd. On a host without systemd as PID 1 the files are still
// written and the user is told how to enable them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { distDir } from '../dist-dir.ts';
import { writeFileAtomicSync } from '../files/atomic.ts';
import { ConfigError, DEFAULT_SOCKET, parseDaemonFlags } from './config.ts';

export const UNIT_DIR = '/etc/systemd/system';

/** sd_booted(3)'s test: systemd is PID 1 exactly when this directory exists. */
export function systemdRunning(): boolean {
  return existsSync('/run/systemd/system');
}

/** One ExecStart word, quoted as systemd.service(5) reads it ($ and % are systemd's own expansions). */
function unitWord(w: string): string {
  const esc = w.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(esc) ? esc : `"${esc.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function serviceUnit(berth: string, flags: string[], socketActivated: boolean): string {
  const exec = [berth, 'daemon', ...(socketActivated ? ['-H', 'fd://'] : []), ...flags].map(unitWord).join(' ');
  return [
    '[Unit]',
    'Description=berth container engine',
    'After=network-online.target' + (socketActivated ? ' berth.socket' : ''),
    'Wants=network-online.target',
    ...(socketActivated ? ['Requires=berth.socket'] : []),
    // Restart=always is bounded by systemd's default start limit; a daemon
    // that cannot start at all then stops being retried, as docker.service.
    'StartLimitIntervalSec=60s',
    'StartLimitBurst=3',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Restart=always',
    'RestartSec=2s',
    // The containers' monitors (berth-shim) live in this unit's cgroup: only the
    // daemon is stopped, so containers keep running across a restart.
    'KillMode=process',
    'Delegate=yes',
    'LimitNOFILE=infinity',
    'LimitNPROC=infinity',
    'TasksMax=infinity',
    'OOMScoreAdjust=-500',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export function socketUnit(path = DEFAULT_SOCKET): string {
  return [
    '[Unit]',
    'Description=berth API socket',
    '',
    '[Socket]',
    `ListenStream=${path}`,
    'SocketMode=0660',
    'SocketUser=root',
    'SocketGroup=root',
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n');
}

function systemctl(args: string[]): void {
  const r = spawnSync('systemctl', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new ConfigError(`systemctl ${args.join(' ')} failed${r.error ? `: ${r.error.message}` : ''}`);
}

/** Our own options, taken off the daemon flags the unit passes on. */
function splitOwnOptions(argv: string[]): { unitDir: string; socketActivation: boolean; flags: string[] } {
  let unitDir = UNIT_DIR;
  let socketActivation = false;
  const flags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--socket-activation') socketActivation = true;
    else if (a === '--unit-dir') {
      if (argv[i + 1] === undefined) throw new ConfigError('flag needs an argument: --unit-dir');
      unitDir = argv[++i];
    } else if (a.startsWith('--unit-dir=')) unitDir = a.slice('--unit-dir='.length);
    else flags.push(a);
  }
  return { unitDir, socketActivation, flags };
}

export function installMain(argv: string[], out: (s: string) => void): number {
  const { unitDir, socketActivation, flags } = splitOwnOptions(argv);
  // A unit with a flag the daemon refuses would fail on every restart: refuse it now.
  parseDaemonFlags(flags);
  const service = join(unitDir, 'berth.service');
  const socket = join(unitDir, 'berth.socket');
  mkdirSync(unitDir, { recursive: true });
  writeFileAtomicSync(service, serviceUnit(join(distDir(), 'berth'), flags, socketActivation));
  if (socketActivation) writeFileAtomicSync(socket, socketUnit());
  else rmSync(socket, { force: true });
  out(`wrote ${service}${socketActivation ? ` and ${socket}` : ''}\n`);
  const unit = socketActivation ? 'berth.socket' : 'berth.service';
  if (systemdRunning() && unitDir === UNIT_DIR) {
    systemctl(['daemon-reload']);
    systemctl(['enable', '--now', 'berth.service', ...(socketActivation ? ['berth.socket'] : [])]);
    out(`enabled and started ${unit}\n`);
  } else {
    out(`systemd is not running here (or the units are not in ${UNIT_DIR}): nothing was enabled.\n`
      + `On a systemd host: systemctl daemon-reload && systemctl enable --now berth.service${socketActivation ? ' berth.socket' : ''}\n`);
  }
  return 0;
}

export function uninstallMain(argv: string[], out: (s: string) => void): number {
  const { unitDir, flags } = splitOwnOptions(argv);
  if (flags.length) throw new ConfigError(`berth daemon uninstall takes no daemon flags: ${flags.join(' ')}`);
  const files = ['berth.socket', 'berth.service'].map((f) => join(unitDir, f)).filter((f) => existsSync(f));
  if (systemdRunning() && unitDir === UNIT_DIR && files.length) {
    // Stopping the daemon leaves containers running (KillMode=process).
    systemctl(['disable', '--now', ...files.map((f) => f.slice(unitDir.length + 1))]);
  }
  for (const f of files) rmSync(f, { force: true });
  if (systemdRunning() && unitDir === UNIT_DIR && files.length) systemctl(['daemon-reload']);
  out(files.length ? `removed ${files.join(' and ')}\n` : `no berth units in ${unitDir}\n`);
  return 0;
}
