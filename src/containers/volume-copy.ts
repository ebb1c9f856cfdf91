// Docker's copy-up: a new, empty volume mounted where the image has content
// is filled with that content (files, ownership, modes, xattrs, links) before
// the container first runs. The image's layers are read through a read-only
// overlay of them, and only when the destination is there at all, so a
// volume on a path the image lacks (`-v name:/data` on busybox) costs a few
// lstat calls.
import { runHostCommand } from '../runtime/host-command.ts';
import { shiftOwnership, type IdMapping } from '../runtime/userns.ts';
import { lstatSync } from 'node:fs';
import { mkdtemp, readdir, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemError } from '../errors.ts';
import { resolveInRoot } from '../files/rootpath.ts';

/** Whether `dest` (clean, absolute) may name something in the image: found in a layer, or behind a symlink of one. */
export function imageMayHave(layers: string[], dest: string): boolean {
  const parts = dest.split('/').filter(Boolean);
  for (const layer of layers) {
    for (let i = 1; i <= parts.length; i++) {
      let st;
      try {
        st = lstatSync(join(layer, ...parts.slice(0, i)));
      } catch {
        break;
      }
      if (st.isSymbolicLink() || i === parts.length) return true;
      if (!st.isDirectory()) break;
    }
  }
  return false;
}

/**
 * Copies the image's directory at `dest` into `target` when `target` is empty
 * (copyExistingContents); with `remap`, the copy is owned by the remapped
 * range, as the container sees the image's files.
 */
export async function copyImageContent(o: { layers: string[]; scratchDir: string; dest: string; target: string; remap?: IdMapping }): Promise<void> {
  if (o.layers.length === 0 || !imageMayHave(o.layers, o.dest)) return;
  if ((await readdir(o.target)).length > 0) return;
  if (o.layers.length === 1) {
    await copyFrom(o.layers[0], o.dest, o.target);
    if (o.remap) await shiftOwnership(o.target, o.remap);
    return;
  }
  // More than one layer: their union, whiteouts applied, through overlayfs.
  const dir = await mkdtemp(join(o.scratchDir, 'volcopy-'));
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${o.layers.join(':')}`, dir]);
    try {
      await copyFrom(dir, o.dest, o.target);
      if (o.remap) await shiftOwnership(o.target, o.remap);
    } finally {
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
    }
  } finally {
    await rmdir(dir).catch(() => {});
  }
}

async function copyFrom(root: string, dest: string, target: string): Promise<void> {
  // Symlinks on the way resolve inside the image's root, never on the host.
  const src = resolveInRoot(root, dest);
  const st = await stat(src).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await run('cp', ['-a', '--', src + '/.', target + '/']);
}

function run(cmd: string, args: string[]): Promise<void> {
  return runHostCommand(cmd, args).catch((err: Error) => { throw new SystemError(`failed to populate volume: ${err.message}`); });
}
