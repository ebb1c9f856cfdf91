// The unpack's placing of entries (applyLayer in layer-apply.ts drives it):
// names resolved inside the root (or a copy's scope), an existing final
// component removed and made anew, hard links kept inside, files in new
// directories handed to the file writer threads (files/file-writes.ts), the rest
// written here; device nodes, fifos, whiteouts and xattrs go to the
// deferred batches (layer-deferred.ts), directory metadata waits for the end.
import { createHash } from 'node:crypto';
import {
  closeSync, fchmodSync, fchownSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync,
  mkdirSync, openSync, readdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, chmodSync, writev, writevSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type tar from 'tar-stream';
import { cleanInRoot, isWithin, resolveInRoot } from '../files/rootpath.ts';
import { ArchiveError } from './tarutil.ts';
import { FileWrites, MAX_BODY, type FileBody } from '../files/file-writes.ts';
import { DeferredOps, XATTR_BATCH_BYTES, type Kind } from './layer-deferred.ts';
import {
  type ApplyOptions, CREATE_FLAGS, createExclusive, drain, EGID, errno, EUID, type Header, holdsEntry, isRoot, isUnder, lstatOrUndefined,
  type Meta, normalizeHeader, sameBytes, WH_META_PREFIX, WH_OPAQUE, WH_PREFIX,
} from './layer-entry.ts';

const writevAsync = promisify(writev);

/** Entries up to this size are compared with a linkFrom candidate before it is linked. */
const MAX_COMPARED = 1 << 20;

/** File content is written in writev batches of about this size. */
const WRITE_BATCH = 1 << 20;

export class Extractor {
  private readonly root: string;
  private readonly overlay: boolean;
  size = 0;

  /** Cleaned in-tar directory path -> host path known to be a real directory. */
  private readonly dirCache = new Map<string, string>();
  /** Directory metadata, applied after all content (host path -> meta). */
  private readonly dirMeta = new Map<string, Meta>();
  /** Device nodes, fifos, whiteouts and xattrs, made in batches. */
  private readonly deferred = new DeferredOps();
  /** Flattening mode: paths placed by this layer and their ancestors. */
  private readonly keep = new Set<string>();

  private readonly opts: ApplyOptions;
  private readonly copy: ApplyOptions['copy'];

  /** Files being written off the main thread (file-writes.ts). */
  private readonly writes = new FileWrites((message, cause) => new ArchiveError(message, { cause }));
  /** Host paths of directories this unpack made (or found empty): only what this tar placed is in them. */
  private readonly freshDirs = new Set<string>();
  /** Fresh directories whose new files are the daemon's, owner and group (needsChown). */
  private readonly ownDirs = new Set<string>();
  /** Host paths this unpack placed something at. */
  private readonly placed = new Set<string>();

  constructor(root: string, opts: ApplyOptions) {
    this.root = root;
    this.overlay = opts.overlayWhiteouts !== false && !opts.copy;
    this.opts = opts;
    this.copy = opts.copy;
    if (readdirSync(root).length === 0) this.freshDirs.add(root);
  }

  /**
   * Waits for the files in flight; one that found its path taken meanwhile
   * (a container's process made it) is placed over it now, in tar order.
   */
  async settleWrites(): Promise<void> {
    for (const b of await this.writes.settle()) {
      const existing = lstatOrUndefined(b.path);
      if (existing?.isDirectory() && this.copy?.noOverwriteDirNonDir) {
        throw new ArchiveError(`cannot overwrite directory ${JSON.stringify(b.shown)} with non-directory in ${JSON.stringify(this.copy.into)}`);
      }
      if (existing) await this.remove(b.path, existing);
      const meta = { mode: b.mode, uid: b.owner?.uid ?? 0, gid: b.owner?.gid ?? 0, atime: b.atime, mtime: b.mtime };
      this.size -= b.size; // counted again by writeFile
      await this.writeFile(b.path, { name: b.name, size: b.size, meta }, b.chunks);
    }
  }

  /** Nothing is written after this returns (a failed unpack's directory may be removed). */
  abandon(): Promise<void> {
    return this.writes.abandon();
  }

  /** Host path of an entry's cleaned name, every component resolved in the root (or the copy's scope). */
  private resolve(clean: string, followFinal: boolean): string {
    if (!this.copy) return resolveInRoot(this.root, clean, followFinal);
    return this.copy.scope.host(posix.join(this.copy.into, clean), followFinal);
  }

  private inside(host: string): boolean {
    return this.copy ? this.copy.scope.contains(host) : isWithin(this.root, host);
  }

  /** The path from the tar's point of view, for messages: in-container for a copy. */
  private shown(clean: string): string {
    return this.copy ? posix.join(this.copy.into, clean) : clean;
  }

  private host(parent: string, base: string): string {
    return parent === '/' ? '/' + base : `${parent}/${base}`;
  }

  /**
   * The host path of the directory `clean` (a cleaned in-tar path), with every
   * component resolved inside the root. With `create` missing components are
   * made (0755, like Docker); without it undefined is returned for a missing
   * directory.
   */
  private async resolveDir(clean: string, create: boolean): Promise<string | undefined> {
    if (clean === '/') return this.root;
    const cached = this.dirCache.get(clean);
    if (cached !== undefined) return cached;
    let host: string;
    try {
      host = this.resolve(clean, true);
    } catch (err) {
      throw new ArchiveError(`${clean}: ${(err as Error).message}`, { cause: err });
    }
    if (!this.inside(host)) throw new ArchiveError(`${clean}: path escapes the layer`);
    // A device node still waiting for mknod, or a file in flight, must not be taken for a missing directory.
    if (this.deferred.hasNodes) await this.deferred.flushNodes();
    if (this.writes.has(host)) await this.settleWrites();
    const st = lstatOrUndefined(host);
    if (!st) {
      if (!create) return undefined;
      try {
        mkdirSync(host, { recursive: true, mode: 0o755 });
      } catch (err) {
        throw new ArchiveError(`${clean}: cannot create parent directory: ${(err as Error).message}`, { cause: err });
      }
    } else if (!st.isDirectory()) {
      if (!create) return undefined;
      throw new ArchiveError(`${clean}: parent is not a directory`);
    }
    this.dirCache.set(clean, host);
    return host;
  }

  private markKept(p: string): void {
    if (this.overlay || this.copy) return;
    for (let q = p; isWithin(this.root, q) && q !== this.root && !this.keep.has(q); q = posix.dirname(q)) this.keep.add(q);
  }

  /** Removes an existing entry, dropping every deferred operation below it. */
  private async remove(p: string, st: Stats): Promise<void> {
    if (this.deferred.hasNodes) await this.deferred.flushNodes();
    await this.settleWrites();
    this.freshDirs.clear();
    this.ownDirs.clear();
    if (st.isDirectory()) {
      rmSync(p, { recursive: true, force: true });
      this.dirCache.clear();
      for (const k of this.dirMeta.keys()) if (isUnder(k, p)) this.dirMeta.delete(k);
      this.deferred.dropUnder(p);
    } else {
      unlinkSync(p);
      if (st.isSymbolicLink()) this.dirCache.clear();
      this.deferred.drop(p);
    }
  }

  async place(raw: tar.Header, stream: Readable, pax: Map<string, Buffer>): Promise<void> {
    const h = normalizeHeader(raw, pax);
    if (this.copy?.owner) {
      h.meta.uid = this.copy.owner.uid;
      h.meta.gid = this.copy.owner.gid;
    }
    if (this.copy?.idMap) Object.assign(h.meta, this.copy.idMap(h.meta.uid, h.meta.gid));
    if (this.copy) {
      // dockerd's Untar refuses a name that climbs out of the extraction point (a layer's is clamped).
      const rel = posix.normalize(h.name.replace(/^\/+/, '') || '.');
      if (rel === '..' || rel.startsWith('../')) throw new ArchiveError(`${JSON.stringify(h.name)} is outside of ${JSON.stringify(this.copy.into)}`);
    }
    const clean = cleanInRoot(h.name);
    if (clean === '/') {
      // The root itself: the layer directory keeps its own metadata (as Docker).
      if (h.type !== 'directory') throw new ArchiveError(`${h.name}: the root of a layer must be a directory`);
      return drain(stream);
    }
    const parentClean = posix.dirname(clean);
    const base = posix.basename(clean);

    // AUFS metadata (.wh..wh.plnk and friends) is not content; only the opaque marker means something.
    const top = clean.split('/')[1];
    if (!this.copy && (top.startsWith(WH_META_PREFIX) || base.startsWith(WH_META_PREFIX)) && base !== WH_OPAQUE) return drain(stream);

    const isFile = h.type === 'file' || h.type === 'contiguous-file';
    // Anything but a new file or directory may touch a file in flight: they finish first.
    if (!isFile && h.type !== 'directory') await this.settleWrites();

    if (!this.copy && base.startsWith(WH_PREFIX)) {
      await drain(stream);
      if (base === WH_OPAQUE) return this.opaque(parentClean);
      const name = base.slice(WH_PREFIX.length);
      if (name === '' || name === '.' || name === '..') throw new ArchiveError(`${h.name}: invalid whiteout`);
      return this.whiteout(parentClean, name);
    }

    const parent = (await this.resolveDir(parentClean, true)) as string;
    const p = this.host(parent, base);
    if (!this.inside(p) || p === this.root) throw new ArchiveError(`${h.name}: path escapes the layer`);
    if (this.copy) {
      // A mount point is the mount's root: its content is the mount's, and
      // it is never replaced (the kernel would refuse: it is busy).
      const m = this.copy.scope.mountOver(p);
      if (m) {
        if (h.type !== 'directory' || !lstatOrUndefined(m.source)?.isDirectory()) {
          throw new ArchiveError(`cannot overwrite mount point ${JSON.stringify(m.destination)}`);
        }
        return drain(stream);
      }
    }
    if (this.deferred.hasNode(p)) await this.deferred.flushNodes();
    if (this.writes.has(p)) await this.settleWrites();
    if (isFile && this.freshDirs.has(parent) && !this.placed.has(p) && !this.opts.linkFrom && h.size <= MAX_BODY && (h.xattrs.size === 0 || this.opts.xattrs === false)) {
      // A new name in a directory this unpack made: nothing can be there, so the file is written off the main thread.
      return this.writeLater(p, h, clean, stream);
    }
    this.placed.add(p);
    // A regular file is created first (O_EXCL, as before): only when something
    // is there already is it looked at, which saves an lstat per file of a fresh tree.
    const fd = isFile && !this.opts.linkFrom ? createExclusive(p) : undefined;
    const existing = fd === undefined ? lstatOrUndefined(p) : undefined;
    if (existing && this.copy?.noOverwriteDirNonDir) {
      const dest = JSON.stringify(this.copy.into);
      if (existing.isDirectory() && h.type !== 'directory') {
        throw new ArchiveError(`cannot overwrite directory ${JSON.stringify(this.shown(clean))} with non-directory in ${dest}`);
      }
      if (!existing.isDirectory() && h.type === 'directory') {
        throw new ArchiveError(`cannot overwrite non-directory ${JSON.stringify(this.shown(clean))} with directory in ${dest}`);
      }
    }
    this.markKept(p);
    this.opts.fileDigests?.delete(p);

    switch (h.type) {
      case 'directory': {
        await drain(stream);
        if (existing && !existing.isDirectory()) await this.remove(p, existing);
        if (!existing?.isDirectory()) {
          mkdirSync(p, { mode: 0o700 });
          this.freshDirs.add(p);
          const made = lstatSync(p);
          if (!(made.mode & 0o2000) && made.gid === EGID) this.ownDirs.add(p);
        }
        this.dirMeta.set(p, h.meta);
        this.dirCache.set(clean, p);
        break;
      }
      case 'file':
      case 'contiguous-file': {
        if (existing) await this.remove(p, existing);
        const candidate = h.xattrs.size === 0 ? this.opts.linkFrom?.(clean) : undefined;
        if (candidate && (candidate.sameContent || h.size <= MAX_COMPARED) && holdsEntry(candidate.path, h)) {
          let data: Buffer[] | undefined;
          if (!candidate.sameContent) {
            data = [];
            for await (const chunk of stream) data.push(chunk as Buffer);
          } else await drain(stream);
          const bytes = data && Buffer.concat(data);
          if (!bytes || sameBytes(candidate.path, bytes)) {
            linkSync(candidate.path, p);
            if (bytes) this.opts.fileDigests?.set(p, createHash('sha256').update(bytes).digest('hex'));
            this.size += h.size;
            return;
          }
          await this.writeFile(p, h, data as Buffer[]);
          break;
        }
        await this.writeFile(p, h, stream, fd);
        break;
      }
      case 'symlink': {
        await drain(stream);
        if (h.linkname === '') throw new ArchiveError(`${h.name}: symlink with an empty target`);
        if (existing) await this.remove(p, existing);
        symlinkSync(h.linkname, p);
        if (isRoot) lchownSync(p, h.meta.uid, h.meta.gid);
        lutimesSync(p, h.meta.atime, h.meta.mtime);
        break;
      }
      case 'link': {
        await drain(stream);
        await this.hardLink(p, h, existing);
        return; // the inode's metadata and xattrs are the target's
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain(stream);
        if (existing) await this.remove(p, existing);
        const kind: Kind = h.type === 'fifo' ? 'p' : h.type === 'character-device' ? 'c' : 'b';
        this.deferred.queueNode({ path: p, kind, major: h.devmajor, minor: h.devminor, ...h.meta, whiteout: false });
        break;
      }
      default:
        throw new ArchiveError(`${h.name}: unsupported tar entry type ${h.type}`);
    }
    if (h.xattrs.size > 0 && this.opts.xattrs !== false) this.deferred.queueXattrs(p, h.xattrs);
    if (this.deferred.xattrBytes > XATTR_BATCH_BYTES) await this.flushXattrs();
  }

  /**
   * A new file is the daemon's (its euid and egid) in a directory this unpack
   * made with the daemon's group and no setgid bit (one made in a setgid
   * directory inherits both): its chown to those ids would change nothing, and
   * one thread-pool round trip fewer per file counts.
   */
  private needsChown(p: string, m: Meta): boolean {
    if (!isRoot) return false;
    return m.uid !== EUID || m.gid !== EGID || !this.ownDirs.has(posix.dirname(p));
  }

  /** Reads the file's body and hands it to the file writer threads (files/file-writes.ts). */
  private async writeLater(p: string, h: Header, clean: string, stream: Readable): Promise<void> {
    this.placed.add(p);
    this.markKept(p);
    this.opts.fileDigests?.delete(p);
    const chunks: Buffer[] = [];
    let size = 0;
    const digest = this.opts.fileDigests && createHash('sha256');
    for await (const chunk of stream) {
      digest?.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    if (size !== h.size) throw new ArchiveError(`${h.name}: truncated file content`);
    const body: FileBody = {
      path: p, name: h.name, shown: this.shown(clean), size, mode: h.meta.mode,
      owner: this.needsChown(p, h.meta) ? { uid: h.meta.uid, gid: h.meta.gid } : undefined, atime: h.meta.atime, mtime: h.meta.mtime,
    };
    await this.writes.add(body, chunks);
    if (digest) this.opts.fileDigests?.set(p, digest.digest('hex'));
    this.size += size;
  }

  /** `created`: the file's descriptor when it was just made by createExclusive. */
  private async writeFile(p: string, h: Pick<Header, 'name' | 'size' | 'meta'>, stream: AsyncIterable<unknown> | Iterable<Buffer>, created?: number): Promise<void> {
    const fd = created ?? openSync(p, CREATE_FLAGS, 0o600);
    try {
      let batch: Buffer[] = [];
      let batchLen = 0;
      let written = 0;
      const small = h.size <= WRITE_BATCH;
      const flush = async () => {
        let bufs = batch;
        let left = batchLen;
        batch = [];
        batchLen = 0;
        while (left > 0) {
          // A small file in one synchronous writev: the thread-pool round trip costs more than the copy.
          const n = small ? writevSync(fd, bufs) : (await writevAsync(fd, bufs)).bytesWritten;
          written += n;
          left -= n;
          if (left === 0) break;
          // Short write: drop what went out and retry the rest.
          let skip = n;
          while (skip >= bufs[0].length) skip -= (bufs.shift() as Buffer).length;
          bufs = [bufs[0].subarray(skip), ...bufs.slice(1)];
        }
      };
      const digest = this.opts.fileDigests && createHash('sha256');
      for await (const chunk of stream) {
        digest?.update(chunk as Buffer);
        batch.push(chunk as Buffer);
        batchLen += (chunk as Buffer).length;
        if (batchLen >= WRITE_BATCH) await flush();
      }
      if (batchLen > 0) await flush();
      if (written !== h.size) throw new ArchiveError(`${h.name}: truncated file content`);
      if (digest) this.opts.fileDigests?.set(p, digest.digest('hex'));
      this.size += written;
      // chown before chmod: chown clears setuid/setgid bits.
      if (isRoot) fchownSync(fd, h.meta.uid, h.meta.gid);
      fchmodSync(fd, h.meta.mode);
      futimesSync(fd, h.meta.atime, h.meta.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private async hardLink(p: string, h: Header, existing: Stats | undefined): Promise<void> {
    if (h.linkname === '') throw new ArchiveError(`${h.name}: hard link without a target`);
    let target: string;
    try {
      target = this.resolve(cleanInRoot(h.linkname), false);
    } catch (err) {
      throw new ArchiveError(`${h.name}: hard link target ${h.linkname}: ${(err as Error).message}`, { cause: err });
    }
    if (!this.inside(target) || target === this.root) {
      throw new ArchiveError(`${h.name}: hard link target ${h.linkname} is outside the layer`);
    }
    if (this.deferred.hasNode(target)) await this.deferred.flushNodes();
    const st = lstatOrUndefined(target);
    if (!st) throw new ArchiveError(`${h.name}: hard link target ${h.linkname} does not exist in the layer`);
    if (st.isDirectory()) throw new ArchiveError(`${h.name}: hard link to a directory (${h.linkname})`);
    if (target === p) return; // a link to itself: already there
    if (existing) {
      if (existing.dev === st.dev && existing.ino === st.ino) return;
      await this.remove(p, existing);
    }
    linkSync(target, p);
  }

  /** `.wh.NAME` in the directory `parentClean`. */
  private async whiteout(parentClean: string, name: string): Promise<void> {
    const parent = await this.resolveDir(parentClean, this.overlay);
    if (parent === undefined) return; // flattening: nothing there to delete
    const p = this.host(parent, name);
    if (!isWithin(this.root, p) || p === this.root) throw new ArchiveError(`${parentClean}/${WH_PREFIX}${name}: path escapes the layer`);
    if (this.deferred.hasNode(p)) await this.deferred.flushNodes();
    const existing = lstatOrUndefined(p);
    if (!this.overlay) {
      // Whiteouts hide lower layers only, never what this layer put there.
      if (existing && !this.keep.has(p)) await this.remove(p, existing);
      return;
    }
    // In a fresh layer directory anything already there came from this layer
    // and hides the lower path by itself.
    if (existing) return;
    const t = this.deferred.whiteoutTemplate;
    if (t) {
      if (t.pending) await this.deferred.flushNodes();
      try {
        linkSync(t.path, p);
        return;
      } catch (err) {
        // EMLINK (too many links) or a vanished template: make a new one.
        if (errno(err) !== 'EMLINK' && errno(err) !== 'ENOENT') throw err;
      }
    }
    this.deferred.queueNode({ path: p, kind: 'c', major: 0, minor: 0, mode: 0, uid: 0, gid: 0, atime: 0, mtime: 0, whiteout: true });
    this.deferred.whiteoutTemplate = { path: p, pending: true };
  }

  /** `.wh..wh..opq` in the directory `parentClean`. */
  private async opaque(parentClean: string): Promise<void> {
    const dir = await this.resolveDir(parentClean, this.overlay);
    if (dir === undefined) return;
    if (this.overlay) {
      this.deferred.queueXattrs(dir, new Map([['trusted.overlay.opaque', Buffer.from('y')]]));
      return;
    }
    // Flattening: empty the directory of everything a lower layer put there.
    const purge = async (d: string): Promise<void> => {
      for (const name of readdirSync(d)) {
        const c = `${d}/${name}`;
        const st = lstatSync(c);
        if (!this.keep.has(c)) await this.remove(c, st);
        else if (st.isDirectory()) await purge(c);
      }
    };
    await purge(dir);
  }

  /** Sets the queued xattrs, once every path they name has been made. */
  private async flushXattrs(): Promise<void> {
    if (!this.deferred.hasXattrs) return;
    await this.settleWrites();
    await this.deferred.flushNodes();
    await this.deferred.flushXattrs();
  }

  /** Everything deferred: nodes, xattrs, then directory metadata. */
  async finish(): Promise<void> {
    await this.settleWrites();
    await this.deferred.flushNodes();
    await this.flushXattrs();
    const dirs = [...this.dirMeta].reverse();
    this.dirMeta.clear();
    for (const [p, m] of dirs) {
      const st = lstatOrUndefined(p);
      if (!st?.isDirectory()) continue;
      if (isRoot) lchownSync(p, m.uid, m.gid);
      chmodSync(p, m.mode);
      utimesSync(p, m.atime, m.mtime);
    }
  }
}
