// Small pieces shared by layer extraction (layer-apply.ts) and tar writing
// (tar-write.ts): binary-safe PAX records, device numbers, and running the
// few external tools Node has no API for (mknod, setfattr, getfattr).
import { spawn } from 'node:child_process';
import { ArchiveError } from '../errors.ts';
import { toolMissing } from '../files/compression.ts';

export { ArchiveError };
export { encodePaxRecords, paxHeaderBlock } from '../files/tar-format.ts';

// ---------------------------------------------------------------------------
// PAX extended header records: "<len> <key>=<value>\n", where len counts the
// whole record in bytes. Values are bytes: xattr values (security.capability)
// are binary, so they are never decoded as UTF-8 here.

export const XATTR_PREFIX = 'SCHILY.xattr.';

/** Parses a PAX extended header body. Throws ArchiveError on a malformed record. */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    // Some writers pad the body with NULs; nothing after them is a record.
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    if (sp < 0 || sp - off > 20) throw new ArchiveError('malformed PAX header: record without length');
    const lenText = buf.toString('latin1', off, sp);
    if (!/^[0-9]+$/.test(lenText)) throw new ArchiveError('malformed PAX header: bad record length');
    const len = Number(lenText);
    const end = off + len;
    if (len <= sp - off + 1 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw new ArchiveError('malformed PAX header: record length out of range');
    }
    const rec = buf.subarray(sp + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new ArchiveError('malformed PAX header: record without key');
    // Copy the value so the record does not pin the whole input chunk.
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    off = end;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Device numbers (glibc's encoding of dev_t).

export function devMajor(rdev: number): number {
  const lo = rdev >>> 0;
  const hi = Math.floor(rdev / 0x100000000) >>> 0;
  return (((lo >>> 8) & 0xfff) | (hi & 0xfffff000)) >>> 0;
}

export function devMinor(rdev: number): number {
  const lo = rdev >>> 0;
  const hi = Math.floor(rdev / 0x100000000) >>> 0;
  return ((lo & 0xff) | (((lo >>> 12) | (hi << 20)) & 0xffffff00)) >>> 0;
}

// ---------------------------------------------------------------------------
// getfattr/setfattr dump format: paths and names with octal escapes.

/** Escapes every byte but a few safe ones as \ooo (attr's unquote() reverses it). */
export function quoteAttrText(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const safe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
      || byte === 0x2f || byte === 0x2e || byte === 0x5f || byte === 0x2d || byte === 0x2b;
    out += safe ? String.fromCharCode(byte) : '\\' + byte.toString(8).padStart(3, '0');
  }
  return out;
}

/** Reverses getfattr's quoting; `s` holds the raw output bytes as latin1. */
export function unquoteAttrText(s: string): string {
  const bytes = s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8) & 0xff));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** xattr names we can pass through the dump format unambiguously. */
export function isPlainXattrName(name: string): boolean {
  return /^[\x21-\x7e]+$/.test(name) && !name.includes('=') && !name.includes('\\') && name.length <= 255;
}

// ---------------------------------------------------------------------------
// External tools.

export interface ToolResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}


/**
 * Runs a tool to completion with optional stdin; never throws for a non-zero
 * exit (the caller judges), only when the tool cannot be started. stdout is
 * collected, so only use this where its output is small or wanted whole.
 */
/** Runs a tool to its end; `signal` kills it (and rejects) when its result is no longer wanted. */
export function runTool(cmd: string, args: string[], stdin?: Buffer | string, signal?: AbortSignal): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' }, signal, killSignal: 'SIGKILL' });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 64 * 1024) err += c.toString('utf8');
    });
    child.on('error', (e) => reject(signal?.aborted ? signal.reason : toolMissing(cmd, e)));
    child.stdin.on('error', () => {
      // EPIPE when the tool exits early; its exit status tells what happened.
    });
    child.stdin.end(stdin ?? '');
    child.on('close', (code, sig) => {
      if (signal?.aborted) reject(signal.reason);
      else resolve({ code: code ?? (sig ? 128 : 1), stdout: Buffer.concat(out), stderr: err });
    });
  });
}
