// The daemon's own calls of the OCI runtime (pause, resume, state), bounded
// as the shim bounds its calls: a hung runtime must not hold a container's
// lock, and with it every later request on that container, forever.
import { spawn } from 'node:child_process';

/** BERTH_RUNTIME_TIMEOUT (seconds, 0 for none; default 60), as berth-shim reads it. */
export function runtimeTimeoutSeconds(): number {
  const v = process.env.BERTH_RUNTIME_TIMEOUT;
  return v && /^\d+$/.test(v) ? Number(v) : 60;
}

export interface RuntimeCallResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed, with everything it forked, for outliving the timeout. */
  timedOut: boolean;
}

/** Runs the runtime in a process group of its own, killed whole after the timeout. */
export function runtimeCall(path: string, args: string[]): Promise<RuntimeCallResult> {
  return new Promise((resolve) => {
    const child = spawn(path, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const seconds = runtimeTimeoutSeconds();
    const timer = seconds ? setTimeout(() => {
      timedOut = true;
      try { process.kill(-(child.pid as number), 'SIGKILL'); } catch { /* gone */ }
    }, seconds * 1000) : undefined;
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr || err.message, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
