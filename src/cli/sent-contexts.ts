// Build contexts this CLI sent to a daemon, remembered by their fingerprint
// (src/build/context-tar.ts) and the digest the daemon gave the tar. When a
// context's fingerprint is the same the next time, the CLI names the tar by
// its digest instead of sending it: a fully cached build then reads no file.
// When some files changed, only those are sent, on top of the last context.
// A daemon that no longer keeps it answers 412, and the context is sent whole.
// Runs in the CLI's startup snapshot: no process state read at load time.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';

/** What the CLI keeps of the last context it sent for a key. */
export interface SentContext {
  /** The context's fingerprint, when it was settled (else ''). */
  fingerprint: string;
  /** What the daemon keeps the context under. */
  digest: string;
  /** Stat keys of its files (context path → key): those that still match need not be sent again. */
  files: Record<string, string>;
}

function recordPath(key: string[]): string {
  const base = process.env.XDG_CACHE_HOME || join(process.env.HOME ?? '/root', '.cache');
  return join(base, 'berth', 'build-contexts', createHash('sha256').update(key.join('\0')).digest('hex') + '.json');
}

/** The context last sent for `key` (daemon, directory, Dockerfile, ignore rules). */
export function recallContext(key: string[]): SentContext | undefined {
  try {
    const r = JSON.parse(readFileSync(recordPath(key), 'utf8')) as SentContext;
    if (typeof r.fingerprint !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(r.digest) || typeof r.files !== 'object' || r.files === null) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

export function rememberContext(key: string[], sent: SentContext): void {
  const p = recordPath(key);
  try {
    mkdirSync(join(p, '..'), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(p, JSON.stringify(sent), 0o600);
  } catch {
    // A cache that cannot be written only costs the next build an upload.
  }
}
