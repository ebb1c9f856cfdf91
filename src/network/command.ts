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
 * Deletes links, inside the network namespace bound at `netnsPath` or in the
 * daemon's own (undefined): berth-spawn does it itself (netlink, in a fork of
 * it, after setns), with no ip or nsenter to start; without it, `ip -force
 * -batch`. A link already gone does not stop the others.
 */
export async function deleteLinks(netnsPath: string | undefined, names: string[]): Promise<void> {
  if (!names.length) return;
  const r = await runBuiltin('link-del', [netnsPath ?? '-', ...names]);
  const lines = names.map((n) => `link del dev ${n}\n`).join('');
  if (!r) await (netnsPath ? runInNetns(netnsPath, 'ip', ['-force', '-batch', '-'], lines) : runCommand('ip', ['-force', '-batch', '-'], lines));
  else if (r.code !== 0) throw new CommandError('ip', ['-force', '-batch', '-'], r.code, r.stderr.toString('utf8'));
}
