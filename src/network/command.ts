// Runs the system tools networking is built on (ip, iptables, unshare,
// nsenter) and turns a failure into an error that carries their message.
import { runBuiltin, runToEnd } from '../files/spawner.ts';

export class CommandError extends Error {
  readonly stderr: string;
  constructor(cmd: string, args: string[], code: number | null, stderr: string) {
    super(`${cmd} ${args.join(' ')}: ${stderr.trim() || `exit status ${code}`}`);
    this.name = 'CommandError';
    this.stderr = stderr;
  }
}

/** Runs `cmd args…` with `input` on stdin; resolves with stdout. */
export async function runCommand(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await runToEnd(cmd, args, input);
  if (r.code === 0) return r.stdout.toString('utf8');
  throw new CommandError(cmd, args, r.code, r.stderr.toString('utf8'));
}

/** The same inside the network namespace bind-mounted at `netnsPath`. */
export function runInNetns(netnsPath: string, cmd: string, args: string[], input?: string): Promise<string> {
  return runCommand('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], input);
}

/** `umount -l path`, without a process where berth-spawn can do it. */
export async function umountDetach(path: string): Promise<void> {
  const r = await runBuiltin('umount-detach', [path]);
  if (!r) await runCommand('umount', ['-l', path]);
  else if (r.code !== 0) throw new CommandError('umount', ['-l', path], r.code, r.stderr.toString('utf8'));
}

/**
 * Deletes links by name (ip link del; one already gone is fine) inside the
 * namespace at `netnsPath`, or the daemon's own without one; with no process
 * where berth-spawn can.
 */
export async function deleteLinks(names: string[], netnsPath?: string): Promise<void> {
  const r = await runBuiltin('link-del', [netnsPath ?? '-', ...names]);
  if (r && r.code !== 0) throw new CommandError('ip link del', names, r.code, r.stderr.toString('utf8'));
  if (r) return;
  const batch = names.map((l) => `link del dev ${l}\n`).join('');
  await (netnsPath ? runInNetns(netnsPath, 'ip', ['-force', '-batch', '-'], batch) : runCommand('ip', ['-force', '-batch', '-'], batch));
}
