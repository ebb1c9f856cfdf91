// Runs the system tools networking is built on (ip, iptables, unshare,
// nsenter) and turns a failure into an error that carries their message.
import { runToEnd } from '../files/spawner.ts';

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
