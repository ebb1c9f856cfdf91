// A static HTTP server for tests, in a process of its own: the CLIs run
// synchronously, so a server in the test process could not answer the daemon.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Serves `dir` over HTTP from another process (the CLIs run synchronously, so
 * a server in this process could not answer the daemon). Files get the mtime
 * 2030-01-01, which python's http.server sends as Last-Modified.
 */
export async function serveDir(dir: string): Promise<{ port: number; stop: () => void }> {
  for (const n of readdirSync(dir)) utimesSync(join(dir, n), 1893456000, 1893456000);
  const proc: ChildProcess = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /port (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', () => reject(new Error('http.server exited')));
  });
  return { port, stop: () => proc.kill('SIGKILL') };
}

