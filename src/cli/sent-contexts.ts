// Build contexts this CLI sent to a daemon, remembered by their fingerprint
// (src/build/context-tar.ts) and the digest the daemon gave the tar. When a
// context's fingerprint is the same the next time, the CLI names the tar by
// its digest instead of sending it: a fully cached build then reads no file.
// A daemon that no longer keeps it answers 412, and the context is sent whole.
// Runs in the CLI's startup snapshot: no process state read at load time.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../storage/atomic.ts';

interface Record_ {
  fingerprint: string;
  digest: string;
}

function recordPath(key: string[]): string {
  const base = process.env.XDG_CACHE_HOME || join(process.env.HOME ?? '/root', '.cache');
  return join(base, 'berth', 'build-contexts', createHash('sha256').update(key.join('\0')).digest('hex') + '.json');
}

/** The digest of the tar last sent for `key` (daemon, directory, Dockerfile, ignore rules), if its fingerprint is this one. */
export function recallContext(key: string[], fingerprint: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(recordPath(key), 'utf8')) as Record_;
    return r.fingerprint === fingerprint && /^sha256:[0-9a-f]{64}$/.test(r.digest) ? r.digest : undefined;
  } catch {
    return undefined;
  }
}

export function rememberContext(key: string[], fingerprint: string, digest: string): void {
  const p = recordPath(key);
  try {
    mkdirSync(join(p, '..'), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(p, JSON.stringify({ fingerprint, digest } satisfies Record_), 0o600);
  } catch {
    // A cache that cannot be written only costs the next build an upload.
  }
}
