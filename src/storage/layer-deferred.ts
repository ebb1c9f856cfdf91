// What an unpack (layer-extractor.ts) leaves for later and does in batches:
// device nodes, fifos and overlay whiteouts made by one shell per batch
// (mknod/mkfifo), and extended attributes set by one `setfattr --restore`.
// A path queued here was a path whose components were real directories when
// it was queued; the extractor drops what is queued under a path it removes.
import { chmodSync, lchownSync, utimesSync } from 'node:fs';
import { isRoot, isUnder } from './layer-entry.ts';
import { ArchiveError, isPlainXattrName, quoteAttrText, runTool } from './tarutil.ts';

/** Batch sizes for the external tools. */
const NODE_BATCH = 256;
/** Queued xattrs are set once they reach about this size. */
export const XATTR_BATCH_BYTES = 1 << 20;

export type Kind = 'c' | 'b' | 'p';

export interface PendingNode {
  path: string;
  kind: Kind;
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  /** Whiteouts keep the 0:0 root-owned mode-0 node mknod makes. */
  whiteout: boolean;
}

export class DeferredOps {
  /** xattrs to set (host path -> name -> value). */
  private readonly xattrQueue = new Map<string, Map<string, Buffer>>();
  xattrBytes = 0;
  /** Device nodes and fifos to create. */
  private nodeQueue: PendingNode[] = [];
  private readonly nodePaths = new Set<string>();
  /** An existing whiteout of this layer that further whiteouts hard-link to. */
  whiteoutTemplate: { path: string; pending: boolean } | undefined;

  get hasNodes(): boolean {
    return this.nodeQueue.length > 0;
  }

  get hasXattrs(): boolean {
    return this.xattrQueue.size > 0;
  }

  /** True while a node waits at `p`. */
  hasNode(p: string): boolean {
    return this.nodePaths.has(p);
  }

  /** `p` (a directory) was removed: nothing queued below it is done. */
  dropUnder(p: string): void {
    for (const k of this.xattrQueue.keys()) if (isUnder(k, p)) this.xattrQueue.delete(k);
    if (this.whiteoutTemplate && isUnder(this.whiteoutTemplate.path, p)) this.whiteoutTemplate = undefined;
  }

  /** `p` (not a directory) was removed. */
  drop(p: string): void {
    this.xattrQueue.delete(p);
    if (this.whiteoutTemplate?.path === p) this.whiteoutTemplate = undefined;
  }

  queueNode(n: PendingNode): void {
    this.nodeQueue.push(n);
    this.nodePaths.add(n.path);
  }

  queueXattrs(p: string, attrs: Map<string, Buffer>): void {
    let m = this.xattrQueue.get(p);
    if (!m) this.xattrQueue.set(p, (m = new Map()));
    for (const [k, v] of attrs) {
      if (!isPlainXattrName(k)) continue; // not representable for setfattr; Docker would fail on most of these too
      m.set(k, v);
      this.xattrBytes += k.length + v.length * 2 + 8;
    }
  }

  /** Creates all queued device nodes and fifos with one shell. */
  async flushNodes(): Promise<void> {
    const nodes = this.nodeQueue;
    if (nodes.length === 0) return;
    this.nodeQueue = [];
    this.nodePaths.clear();
    for (let i = 0; i < nodes.length; i += NODE_BATCH) {
      const batch = nodes.slice(i, i + NODE_BATCH);
      const args = batch.flatMap((n) => [n.path, n.kind, String(n.major), String(n.minor)]);
      const script = 'while [ "$#" -gt 0 ]; do if [ "$2" = p ]; then mkfifo -m 0600 -- "$1" || exit 1; '
        + 'else mknod -m 0600 -- "$1" "$2" "$3" "$4" || exit 1; fi; shift 4; done';
      const r = await runTool('sh', ['-c', script, 'berth-mknod', ...args]);
      if (r.code !== 0) throw new ArchiveError(`cannot create device node or fifo: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    for (const n of nodes) {
      if (n.whiteout) {
        chmodSync(n.path, 0);
        continue;
      }
      if (isRoot) lchownSync(n.path, n.uid, n.gid);
      chmodSync(n.path, n.mode);
      utimesSync(n.path, n.atime, n.mtime);
    }
    if (this.whiteoutTemplate) this.whiteoutTemplate.pending = false;
  }

  /** Sets all queued xattrs with one `setfattr --restore`; the caller has made every path they name. */
  async flushXattrs(): Promise<void> {
    if (this.xattrQueue.size === 0) return;
    let dump = '';
    for (const [p, attrs] of this.xattrQueue) {
      if (attrs.size === 0) continue;
      dump += `# file: ${quoteAttrText(p)}\n`;
      for (const [k, v] of attrs) dump += v.length ? `${k}=0x${v.toString('hex')}\n` : `${k}=\n`;
      dump += '\n';
    }
    this.xattrQueue.clear();
    this.xattrBytes = 0;
    if (dump === '') return;
    const r = await runTool('setfattr', ['-h', '--restore=-'], dump);
    if (r.code === 0) return;
    // Like Docker, xattrs the filesystem does not support or will not let us
    // set (security.* without privilege, user.* on a symlink) are skipped.
    const fatal = r.stderr.split('\n').filter((l) => l.trim() && !/: (Operation not supported|Operation not permitted)$/.test(l));
    if (fatal.length > 0 || r.stderr.trim() === '') {
      throw new ArchiveError(`cannot set extended attributes: ${fatal.join('; ') || `setfattr exit ${r.code}`}`);
    }
  }
}
