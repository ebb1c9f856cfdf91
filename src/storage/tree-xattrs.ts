// The extended attributes of a whole tree, read with one `getfattr -R`
// before a tar of it is written (Node has no xattr API, and one process per
// file would be far too slow), keyed by absolute path.
import { posix } from 'node:path';
import type { ScopedRoot } from '../files/rootpath.ts';
import { ArchiveError, runTool, unquoteAttrText } from './tarutil.ts';

export type XattrMap = Map<string, Array<[string, Buffer]>>;

/** All xattrs below `root` (including overlay's), keyed by absolute path. */
export async function readAllXattrs(root: string, signal: AbortSignal): Promise<XattrMap> {
  const r = await runTool('getfattr', ['-h', '-R', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], undefined, signal);
  // getfattr exits 1 when some file vanished or could not be read; what it
  // printed is still right. Without output and with an error, it failed.
  if (r.code !== 0 && r.stdout.length === 0 && r.stderr.trim() !== '') {
    throw new ArchiveError(`cannot read extended attributes: ${r.stderr.trim()}`);
  }
  const out: XattrMap = new Map();
  let current: Array<[string, Buffer]> | undefined;
  for (const line of r.stdout.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) {
      current = [];
      out.set(posix.normalize(unquoteAttrText(line.slice(8))), current);
      continue;
    }
    if (line === '' || current === undefined) {
      if (line === '') current = undefined;
      continue;
    }
    const eq = line.indexOf('=');
    const name = unquoteAttrText(eq < 0 ? line : line.slice(0, eq));
    const raw = eq < 0 ? '' : line.slice(eq + 1);
    let value: Buffer;
    if (raw.startsWith('0x')) value = Buffer.from(raw.slice(2), 'hex');
    else if (raw.startsWith('0s')) value = Buffer.from(raw.slice(2), 'base64');
    else if (raw.startsWith('"') && raw.endsWith('"')) value = Buffer.from(unquoteAttrText(raw.slice(1, -1)), 'utf8');
    else value = Buffer.alloc(0);
    current.push([name, value]);
  }
  return out;
}

/** The xattrs of the tree at `root` and of the mounts below it, unless the options leave them out. */
export async function treeXattrs(root: string, opts: { xattrs?: boolean; scope?: ScopedRoot }, signal: AbortSignal): Promise<XattrMap | undefined> {
  if (opts.xattrs === false) return undefined;
  const xattrs = await readAllXattrs(root, signal);
  // getfattr -R stays on the tree: the mounts below it are read on their own.
  for (const m of opts.scope?.mountsBelow(root) ?? []) {
    for (const [k, v] of await readAllXattrs(m.source, signal)) xattrs.set(k, v);
  }
  return xattrs;
}
