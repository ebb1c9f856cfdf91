// Git repositories a test makes and serves itself on loopback: over git://
// (`git daemon`) and over smart HTTP (`git http-backend` behind a small node
// server, git-http-backend.ts), the two kinds of URL a build names a repository by.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { mkdirSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';

export const HAVE_GIT = spawnSync('git', ['--version']).status === 0;

/** A work tree whose commits go to the bare repository `<base>/<name>.git` on every commit(). */
export class TestRepo {
  readonly work: string;
  readonly bare: string;
  constructor(base: string, name: string) {
    this.work = join(base, `${name}-work`);
    this.bare = join(base, `${name}.git`);
    execFileSync('git', ['init', '-q', '-b', 'main', this.work]);
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', this.bare]);
    this.git('remote', 'add', 'origin', this.bare);
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-C', this.work, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { encoding: 'utf8' });
  }

  /** Writes files (path → content; an `{ link }` is a symlink, `{ content, mode }` a file with a mode). */
  write(files: Record<string, string | { link: string } | { content: string; mode: number }>): this {
    for (const [p, v] of Object.entries(files)) {
      const abs = join(this.work, p);
      mkdirSync(dirname(abs), { recursive: true });
      if (typeof v === 'string') writeFileSync(abs, v);
      else if ('link' in v) symlinkSync(v.link, abs);
      else {
        writeFileSync(abs, v.content);
        chmodSync(abs, v.mode);
      }
    }
    return this;
  }

  /** Commits everything and pushes the branch (and tags) to the bare repository; returns the commit. */
  commit(message: string, branch = 'main'): string {
    this.git('add', '-A');
    this.git('commit', '-qm', message);
    this.git('push', '-q', '--tags', 'origin', `HEAD:refs/heads/${branch}`);
    return this.git('rev-parse', 'HEAD').trim();
  }
}

export interface GitServer {
  /** git://127.0.0.1:port/<name>.git */
  gitUrl(name: string): string;
  /** http://127.0.0.1:port/<name>.git */
  httpUrl(name: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Serves every bare repository below `base`. */
export async function serveGit(base: string): Promise<GitServer> {
  const gitPort = await freePort();
  // `git daemon` runs git-daemon as a child: a group of its own, so stop() ends both.
  const daemon: ChildProcess = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${base}`, '--listen=127.0.0.1', `--port=${gitPort}`, base], { stdio: 'ignore', detached: true });
  // The CLIs run synchronously: the HTTP server has to be another process to answer the daemon.
  const http = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'git-http-backend.ts'), base], { stdio: ['ignore', 'pipe', 'inherit'] });
  const httpPort = await new Promise<number>((resolve, reject) => {
    let buf = '';
    http.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /^port (\d+)$/m.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    http.once('exit', () => reject(new Error('git-http-backend exited')));
  });
  const server: GitServer = {
    gitUrl: (name) => `git://127.0.0.1:${gitPort}/${name}.git`,
    httpUrl: (name) => `http://127.0.0.1:${httpPort}/${name}.git`,
    async stop() {
      try {
        process.kill(-(daemon.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
      http.kill('SIGKILL');
    },
  };
  // git daemon is ready once it answers.
  for (let i = 0; i < 100; i++) {
    const probe = spawnSync('git', ['ls-remote', `git://127.0.0.1:${gitPort}/nonexistent.git`], { encoding: 'utf8' });
    if (!/Connection refused|unable to connect/i.test(probe.stderr)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return server;
}
