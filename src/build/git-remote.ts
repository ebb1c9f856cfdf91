// Git repositories as build inputs: a `remote=` build context and the source
// of `ADD <git URL> <dest>`. Both name a repository as `url#ref:subdir` and
// check it out with the system's `git` into a directory of their own. The
// repository is hostile: git runs without a terminal, without the file and
// ext transports (a submodule cannot pull a host repository in, nor run a
// command), and the subdirectory is resolved inside the checkout.
import { spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveInRoot } from '../files/rootpath.ts';

/** A repository reference: where it is, which ref, and which subdirectory of it. */
export interface GitRef {
  url: string;
  /** Branch, tag or commit; empty for the remote's HEAD. */
  ref: string;
  subdir: string;
}

/** git failed: its stderr and exit status, for the caller to word. */
export class GitError extends Error {
  readonly stderr: string;
  readonly status: number | null;
  constructor(stderr: string, status: number | null) {
    super(`${stderr}: exit status ${status}`);
    this.stderr = stderr;
    this.status = status;
  }
}

/** The repository part of `url#ref:subdir`; a URL or ref that git would take for an option is refused. */
export function parseGitRef(remote: string): GitRef | undefined {
  const hash = remote.indexOf('#');
  let url = hash < 0 ? remote : remote.slice(0, hash);
  const fragment = hash < 0 ? '' : remote.slice(hash + 1);
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  if (url.startsWith('github.com/')) url = 'https://' + url;
  if (url === '' || url.startsWith('-') || ref.startsWith('-')) return undefined;
  return { url, ref, subdir };
}

/**
 * BuildKit's gitutil.ParseGitRef, for ADD: a git:// or ssh:// URL, an
 * http(s) URL whose path ends in `.git`, or the scp-like `user@host:path`.
 * (`github.com/…` alone is a local path to BuildKit's ADD.)
 */
export function isGitSource(src: string): boolean {
  const scheme = /^([a-zA-Z0-9]+):\/\//.exec(src);
  if (scheme) {
    const s = scheme[1].toLowerCase();
    if (s === 'git' || s === 'ssh') return true;
    if (s !== 'http' && s !== 'https') return false;
    try {
      return new URL(src).pathname.endsWith('.git');
    } catch {
      return false;
    }
  }
  return /^[a-zA-Z0-9_-]+@[a-zA-Z0-9.-]+:/.test(src);
}

const SAFE_CONFIG = ['-c', 'protocol.file.allow=never', '-c', 'protocol.ext.allow=never'];

/** Runs git (never interactive); resolves with its stdout. */
export function runGit(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      LC_ALL: 'C',
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
    };
    const child = spawn('git', [...SAFE_CONFIG, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { if (stdout.length < 1 << 20) stdout += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { if (stderr.length < 8192) stderr += c.toString('utf8'); });
    child.on('error', (err) => reject(new GitError(`git: ${err.message}`, null)));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new GitError(stderr.trim(), code));
    });
  });
}

/**
 * The commit `ref` names on the remote, asked with `git ls-remote` (no
 * clone): a full commit ID names itself; a tag is peeled to its commit.
 * Undefined when the remote has no such ref (it may be an abbreviated commit).
 */
export async function resolveCommit(g: GitRef): Promise<string | undefined> {
  if (/^[0-9a-f]{40}$/.test(g.ref)) return g.ref;
  const want = g.ref || 'HEAD';
  const out = await runGit(['ls-remote', '--', g.url, want, `${want}^{}`]);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t');
    if (sha && name) refs.set(name, sha);
  }
  const candidates = want === 'HEAD'
    ? ['HEAD']
    : [`refs/tags/${want}^{}`, `refs/tags/${want}`, `refs/heads/${want}`, `${want}^{}`, want];
  for (const c of candidates) if (refs.has(c)) return refs.get(c);
  return undefined;
}

export interface GitCheckout {
  /** The repository's work tree. */
  root: string;
  /** The subdirectory asked for, resolved inside the work tree. */
  dir: string;
  commit: string;
  cleanup(): Promise<void>;
}

/**
 * Fetches `g` (shallow when the ref is a branch or tag) into a fresh
 * directory under `tmpRoot` and checks it out, with submodules. `.git` is
 * removed unless `keepGitDir`.
 */
export async function checkoutGit(g: GitRef, tmpRoot: string, opts: { keepGitDir?: boolean } = {}): Promise<GitCheckout> {
  await mkdir(tmpRoot, { recursive: true, mode: 0o700 });
  const root = await mkdtemp(join(tmpRoot, 'git-'));
  const cleanup = () => rm(root, { recursive: true, force: true });
  try {
    await runGit(['init', '-q', root]);
    await runGit(['remote', 'add', 'origin', '--', g.url], root);
    const isCommit = /^[0-9a-f]{7,40}$/.test(g.ref);
    let target = 'FETCH_HEAD';
    try {
      await runGit(['fetch', '-q', '--depth', '1', 'origin', '--', g.ref || 'HEAD'], root);
    } catch (err) {
      // A commit that is not a ref tip (or an abbreviated one) needs the whole history.
      if (!isCommit) throw err;
      await runGit(['fetch', '-q', '--tags', 'origin'], root);
      target = g.ref;
    }
    await runGit(['checkout', '-q', target, '--'], root);
    await runGit(['submodule', 'update', '-q', '--init', '--recursive', '--depth', '1'], root).catch(() => {});
    const commit = (await runGit(['rev-parse', 'HEAD'], root)).trim();
    if (!opts.keepGitDir) await rm(join(root, '.git'), { recursive: true, force: true });
    const dir = g.subdir ? resolveInRoot(root, g.subdir) : root;
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new GitSubdirError(g.subdir);
    return { root, dir, commit, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The `#ref:subdir` subdirectory is not a directory of the checkout. */
export class GitSubdirError extends Error {
  constructor(subdir: string) {
    super(`subdirectory ${subdir} does not exist`);
  }
}
