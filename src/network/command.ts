// Runs the system tools networking is built on (ip, iptables, unshare,
// nsenter) and turns a failure into an error that carries their message.
import { spawn } from 'node:child_process';

export class CommandError extends Error {
  readonly stderr: string;
  constructor(cmd: string, args: string[], code: number | null, stderr: string) {
    super(`${cmd} ${args.join(' ')}: ${stderr.trim() || `exit status ${code}`}`);
    this.name = 'CommandError';
    this.stderr = stderr;
  }
}

/** Runs `cmd args…` with `input` on stdin; resolves with stdout. */
export function runCommand(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new CommandError(cmd, args, code, Buffer.concat(err).toString('utf8')));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The same inside the network namespace bind-mounted at `netnsPath`. */
export function runInNetns(netnsPath: string, cmd: string, args: string[], input?: string): Promise<string> {
  return runCommand('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], input);
}
