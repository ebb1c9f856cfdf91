// A host tool run to completion (mount, umount, cp): resolves when it exits 0,
// rejects with its stderr otherwise. LC_ALL=C keeps its messages parseable.
import { execFile } from 'node:child_process';

export class HostCommandError extends Error {
  readonly stderr: string;
  constructor(cmd: string, stderr: string) {
    super(`${cmd}: ${stderr}`);
    this.name = 'HostCommandError';
    this.stderr = stderr;
  }
}

export function runHostCommand(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (!err) return resolve();
      reject(new HostCommandError(cmd, String(stderr).trim() || err.message));
    });
  });
}
