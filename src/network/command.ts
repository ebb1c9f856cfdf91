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
  if (await deletedLinks(undefined, cmd, args, input)) return '';
  const r = await runToEnd(cmd, args, input);
  if (r.code === 0) return r.stdout.toString('utf8');
  throw new CommandError(cmd, args, r.code, r.stderr.toString('utf8'));
}

/** The same inside the network namespace bind-mounted at `netnsPath`. */
export async function runInNetns(netnsPath: string, cmd: string, args: string[], input?: string): Promise<string> {
  if (await deletedLinks(netnsPath, cmd, args, input)) return '';
  return runCommand('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], input);
}

/** `umount -l path`, without a process where berth-spawn can do it. */
export async function umountDetach(path: string): Promise<void> {
  const r = await runBuiltin('umount-detach', [path]);
  if (!r) await runCommand('umount', ['-l', path]);
  else if (r.code !== 0) throw new CommandError('umount', ['-l', path], r.code, r.stderr.toString('utf8'));
}

const LINK_DEL = /^link del dev (\S+)$/;

/**
 * `ip link del dev NAME`, or `ip [-force] -batch -` whose every line is
 * `link del dev NAME` (a container's teardown and disconnect): berth-spawn
 * deletes the links itself (netlink, in a fork of it, after setns into
 * `netnsPath`), with no ip or nsenter to start. One already gone is no error,
 * and a failure does not stop the others (as `ip -force`). False where it
 * cannot (no helper, another command): the caller runs the command.
 */
async function deletedLinks(netnsPath: string | undefined, cmd: string, args: string[], input?: string): Promise<boolean> {
  if (cmd !== 'ip') return false;
  let names: (string | undefined)[];
  if (args.length === 4 && input === undefined && args.slice(0, 3).join(' ') === 'link del dev') names = [args[3]];
  else if (input !== undefined && ['-batch -', '-force -batch -'].includes(args.join(' '))) names = input.split('\n').filter(Boolean).map((l) => LINK_DEL.exec(l)?.[1]);
  else return false;
  if (!names.length || !names.every((n): n is string => n !== undefined)) return false;
  const r = await runBuiltin('link-del', [netnsPath ?? '-', ...names]);
  if (!r) return false;
  if (r.code !== 0) throw new CommandError(cmd, args, r.code, r.stderr.toString('utf8'));
  return true;
}
