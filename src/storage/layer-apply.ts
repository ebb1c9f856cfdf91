// Unpacking a layer tar into a directory with chroot-like semantics. Every
// tar from outside is hostile, so:
//
// - entry names are cleaned into the root (`../` cannot climb out) and their
//   parent directories are resolved with resolveInRoot, so a symlink in the
//   layer (even `a -> /etc`) is followed as if the root were "/";
// - an existing final component is always unlinked and created anew, never
//   opened or followed (O_CREAT|O_EXCL|O_NOFOLLOW);
// - hard link targets are resolved the same way and must be an existing
//   non-directory inside the root; link(2) on Linux does not follow a
//   symlink, so a link to a symlink links the symlink;
// - symlink targets are stored as given; nothing here ever follows one except
//   through resolveInRoot;
// - every path handed to an external tool or to a deferred chmod/utimes is a
//   path whose components were real directories when it was recorded, and
//   every deferred operation under a path is dropped when that path is
//   removed, so no later entry can redirect it.
//
// The common entries (files, directories, symlinks, hard links) use Node's fs
// only. Device nodes, fifos and the first overlay whiteout are made by
// mknod/mkfifo, batched into one shell per flush; further whiteouts are hard
// links to the first one (the kernel's overlayfs shares whiteout inodes the
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { decompress } from '../files/compression.ts';
import { ArchiveError, parsePaxRecords } from './tarutil.ts';
import { errno, lstatOrUndefined, type ApplyOptions, type ApplyResult } from './layer-entry.ts';
import { Extractor } from './layer-extractor.ts';

export type { ApplyOptions, ApplyResult } from './layer-entry.ts';

/**
 * A body chunk is a fresh buffer (Node's HTTP parser copies each one), dead
 * once its bytes are placed; its memory is outside V8's heap, and such memory
 * piling up makes V8 run full mark-compacts (tens per GiB, most of the
 * daemon's GC time in a copy). A scavenge every few MiB frees the dead
 * chunks for far less; the launcher exposes gc to the daemon.
 */
const MINOR_GC_BYTES = 16 << 20;

/** Shape of tar-stream 3.2's Extract internals that we hook for raw PAX bytes. */
interface ExtractInternals {
  _header: { type?: string | null } | null;
  _decodeLongHeader(buf: Buffer): void;
}

/**
 * Unpacks a layer (tar; gzip, zstd, bzip2 or xz compressed, told by magic
 * bytes) into `dir`. Returns the diff ID (sha256 of the uncompressed tar) and
 * the bytes of file content written. Throws ArchiveError on a malformed or
 * hostile tar; the caller removes `dir` then, partial content is left.
 */
export async function applyLayer(dir: string, input: Readable, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const root = posix.resolve(dir);
  const rootSt = lstatOrUndefined(root);
  if (!rootSt?.isDirectory()) {
    input.destroy();
    throw new ArchiveError(`${dir} is not a directory`);
  }
  const ex = new Extractor(root, opts);
  const dec = await decompress(input);
  const hash = createHash('sha256');
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);

  // tar-stream decodes PAX values as UTF-8, which mangles binary xattr values
  // (security.capability); keep the raw records of each PAX header for the
  // entry that follows it.
  const internals = extract as unknown as ExtractInternals;
  const decodeLong = internals._decodeLongHeader;
  if (typeof decodeLong !== 'function') throw new Error('tar-stream internals changed: cannot read raw PAX headers');
  let globalPax = new Map<string, Buffer>();
  let nextPax: Map<string, Buffer> | null = null;
  internals._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    const type = this._header?.type;
    if (type === 'pax-header') nextPax = new Map([...globalPax, ...parsePaxRecords(buf)]);
    else if (type === 'pax-global-header') globalPax = new Map([...globalPax, ...parsePaxRecords(buf)]);
    decodeLong.call(this, buf);
  };

  let failure: unknown;
  extract.on('entry', (header, stream, next) => {
    // Destroying the extract on a failure errors the entry stream too; the
    // failure is reported once, from here or the extract, never as an
    // unhandled 'error' that would take the daemon down.
    stream.on('error', () => {});
    const pax = nextPax ?? globalPax;
    nextPax = null;
    ex.place(header, stream as unknown as Readable, pax).then(
      () => next(),
      (err: unknown) => {
        if (!(err instanceof ArchiveError)) err = new ArchiveError(`${header.name}: ${(err as Error).message}`, { cause: err });
        failure ??= err;
        stream.resume();
        next(err as Error);
      },
    );
  });
  const extracted = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    // An entry's failure (ENOSPC writing it) closes the extract before its
    // handler has run: wait a turn so that failure, not this, is reported.
    extract.on('close', () => setImmediate(() => reject(failure ?? new ArchiveError('tar extraction stopped'))));
  });
  extracted.catch(() => {});

  const asArchiveError = (err: unknown): ArchiveError => {
    const e = failure ?? err;
    if (e instanceof ArchiveError) return e;
    if (errno(e)) return new ArchiveError(`cannot extract layer: ${(e as Error).message}`, { cause: e });
    return new ArchiveError(`invalid layer archive: ${(e as Error).message}`, { cause: e });
  };

  let sinceMinorGc = 0;
  try {
    for await (const chunk of dec.stream) {
      if (failure !== undefined) throw failure;
      if (opts.digest !== false) hash.update(chunk as Buffer);
      sinceMinorGc += (chunk as Buffer).length;
      if (sinceMinorGc >= MINOR_GC_BYTES) {
        sinceMinorGc = 0;
        (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc?.({ type: 'minor' });
      }
      if (!extract.write(chunk as Buffer)) {
        await Promise.race([new Promise<void>((resolve) => extract.once('drain', () => resolve())), extracted]);
      }
    }
    extract.end(undefined);
    await extracted;
    await dec.finished();
    await ex.finish();
  } catch (err) {
    const e = asArchiveError(err);
    dec.abort(e);
    extract.destroy(e);
    await ex.abandon();
    throw e;
  }
  return { diffId: 'sha256:' + hash.digest('hex'), size: ex.size };
}
