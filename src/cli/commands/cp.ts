// `cp` (and `container cp`): files between a container and the local
// filesystem, with the docker CLI's rules (cli/command/container/cp.go and
// go-archive's copy.go): `CONTAINER:PATH` on one side, `-` for a tar on
// stdin/stdout, trailing `/` and `/.`, renames, `-L` and `-a`.
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { humanSize } from '../../api/units.ts';
import type { EngineClient } from '../../client/engine-client.ts';
import { extractTar, packResource, rebaseName, splitPathDirEntry } from '../../client/local-archive.ts';
import { clientFor, CliError } from '../context.ts';
import { globals } from '../options.ts';

interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  rebaseName: string;
}

interface CpFlags {
  followLink?: boolean;
  archive?: boolean;
  quiet?: boolean;
}

/** Bytes of a container's tar the CLI reads ahead of its extraction. */
const READ_AHEAD = 16 << 20;

const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
const MODE_DEVICE = 2 ** 26;
const MODE_IRREGULAR = 2 ** 19;

const isDir = (mode: number) => Math.floor(mode / MODE_DIR) % 2 === 1;
const isSymlink = (mode: number) => Math.floor(mode / MODE_SYMLINK) % 2 === 1;

const specifiesCurrentDir = (p: string) => p === '.' || p.endsWith('/.');
const assertsDirectory = (p: string) => p.endsWith('/') || specifiesCurrentDir(p);

/** go-archive's PreserveTrailingDotOrSeparator. */
function preserveTrailing(cleaned: string, original: string): string {
  let out = cleaned;
  if (!specifiesCurrentDir(out) && specifiesCurrentDir(original)) out += out.endsWith('/') ? '.' : '/.';
  if (!out.endsWith('/') && original.endsWith('/')) out += '/';
  return out;
}

/** `CONTAINER:PATH`, unless the argument is an explicit local path (absolute, or `./x:y`). */
export function splitCpArg(arg: string): [string, string] {
  if (arg.startsWith('/')) return ['', arg];
  const colon = arg.indexOf(':');
  if (colon < 0 || arg.startsWith('.')) return ['', arg];
  return [arg.slice(0, colon), arg.slice(colon + 1)];
}

function resolveLocalPath(p: string): string {
  return preserveTrailing(posix.resolve(p), p);
}

/** go-archive's GetRebaseName. */
function getRebaseName(path: string, resolved: string): [string, string] {
  let out = resolved;
  if (specifiesCurrentDir(path) && !specifiesCurrentDir(out)) out += '/.';
  if (path.endsWith('/') && !out.endsWith('/')) out += '/';
  return [out, posix.basename(path) !== posix.basename(out) ? posix.basename(path) : ''];
}

/** Go's error text for a failed lstat/stat of a local path. */
function statError(op: string, p: string, err: NodeJS.ErrnoException): CliError {
  const what = err.code === 'ENOENT' ? 'no such file or directory' : err.code === 'ENOTDIR' ? 'not a directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
  return new CliError(`${op} ${p}: ${what}`, 1);
}

async function statPath(client: EngineClient, container: string, path: string): Promise<PathStat | undefined> {
  try {
    const res = await client.stream('HEAD', `/containers/${container}/archive`, { query: { path } });
    res.resume();
    const header = res.headers['x-docker-container-path-stat'];
    return typeof header === 'string' ? JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat : undefined;
  } catch {
    return undefined;
  }
}

function summary(quiet: boolean, size: number, dest: string): void {
  if (!quiet) process.stderr.write(`Successfully copied ${humanSize(size).replace(' ', '')} to ${dest}\n`);
}

/** The bytes of regular files at `p`: what the summary line reports. */
function localSize(p: string): number {
  const st = lstatSync(p);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of readdirSync(p)) total += localSize(`${p}/${name}`);
  return total;
}

async function copyFromContainer(client: EngineClient, container: string, srcArg: string, dstArg: string, f: CpFlags, quiet: boolean): Promise<void> {
  let srcPath = srcArg;
  const dstPath = dstArg === '-' ? '-' : resolveLocalPath(dstArg);
  if (dstPath !== '-') validateOutputPath(dstPath);
  let rebase = '';
  if (f.followLink) {
    const st = await statPath(client, container, srcPath);
    if (st && isSymlink(st.mode)) {
      let target = st.linkTarget;
      if (!target.startsWith('/')) target = posix.join(splitPathDirEntry(srcPath)[0], target);
      [srcPath, rebase] = getRebaseName(srcPath, target);
    }
  }
  // Read well ahead: the daemon keeps walking while this side waits in creat(2).
  const res = await client.stream('GET', `/containers/${container}/archive`, { query: { path: srcPath }, readAhead: READ_AHEAD });
  if (dstPath === '-') {
    await pipeline(res, process.stdout);
    return;
  }
  const header = res.headers['x-docker-container-path-stat'];
  const stat = typeof header === 'string' ? JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat : undefined;
  const srcInfo: CopyInfo = { path: srcPath, exists: true, isDir: stat ? isDir(stat.mode) : false, rebaseName: rebase };
  let renameFirst = (n: string) => n;
  if (srcInfo.rebaseName) {
    const srcBase = splitPathDirEntry(srcInfo.path)[1];
    renameFirst = (n) => rebaseName(n, srcBase, srcInfo.rebaseName);
  }
  let copied = 0;
  res.on('data', (c: Buffer) => { copied += c.length; });
  await copyTo(res, srcInfo, dstPath, renameFirst);
  summary(quiet, stat && !isDir(stat.mode) ? stat.size : copied, dstPath);
}

/** The docker CLI's command.ValidateOutputPath. */
function validateOutputPath(p: string): void {
  const dir = posix.dirname(posix.normalize(p).replace(/(.)\/+$/, '$1'));
  if (dir !== '' && dir !== '.') {
    try {
      statSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`invalid output path: directory ${JSON.stringify(dir)} does not exist`, 1);
    }
  }
  let st;
  try {
    st = statSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw statError('stat', p, err as NodeJS.ErrnoException);
  }
  if (!st.isDirectory() && !st.isFile()) throw new CliError(`invalid output path: ${JSON.stringify(p)} must be a directory or a regular file`, 1);
}

/** go-archive's CopyInfoDestinationPath: symlinks at the destination are followed (at most 10). */
function destinationInfo(path: string): CopyInfo {
  let p = path;
  let st = lstatSync(p, { throwIfNoEntry: false });
  for (let n = 0; st?.isSymbolicLink(); n++) {
    if (n > 10) throw new CliError(`too many symlinks in ${path}`, 1);
    let target = readlinkSync(p);
    if (!target.startsWith('/')) target = posix.join(splitPathDirEntry(p)[0], target);
    p = target;
    st = lstatSync(p, { throwIfNoEntry: false });
  }
  if (st) return { path: p, exists: true, isDir: st.isDirectory(), rebaseName: '' };
  const parent = splitPathDirEntry(p)[0];
  let pst;
  try {
    pst = statSync(parent);
  } catch (err) {
    throw statError('stat', parent, err as NodeJS.ErrnoException);
  }
  if (!pst.isDirectory()) throw new CliError('not a directory', 1);
  return { path: p, exists: false, isDir: false, rebaseName: '' };
}

/**
 * go-archive's PrepareArchiveCopy: the directory to extract into, and the
 * rename that makes the copy land where `cp` would put it.
 */
function prepareArchiveCopy(src: CopyInfo, dst: CopyInfo): [string, (n: string) => string] {
  const [dstDir, dstBase] = splitPathDirEntry(dst.path);
  let srcBase = splitPathDirEntry(src.path)[1];
  if (dst.exists && dst.isDir) return [dst.path, (n) => n];
  if (dst.exists && src.isDir) throw new CliError('cannot copy directory', 1);
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) throw new CliError('no such directory', 1);
  if (src.rebaseName) srcBase = src.rebaseName;
  return [dstDir, (n) => rebaseName(n, srcBase, dstBase)];
}

async function copyTo(content: Readable, src: CopyInfo, dstPath: string, renameFirst: (n: string) => string): Promise<void> {
  const dst = destinationInfo(dstPath);
  const [dir, rename] = prepareArchiveCopy(src, dst);
  try {
    await extractTar(content, dir, (n) => rename(renameFirst(n)));
  } catch (err) {
    content.destroy();
    throw err instanceof CliError ? err : new CliError((err as Error).message, 1);
  }
}

async function copyToContainer(client: EngineClient, container: string, srcArg: string, dstArg: string, f: CpFlags, quiet: boolean): Promise<void> {
  const srcPath = srcArg === '-' ? '-' : resolveLocalPath(srcArg);
  const dstInfo: CopyInfo = { path: dstArg, exists: false, isDir: false, rebaseName: '' };
  let dst = await statPath(client, container, dstArg);
  if (dst) {
    if (isSymlink(dst.mode)) {
      let target = dst.linkTarget;
      if (!target.startsWith('/')) target = posix.join(splitPathDirEntry(dstArg)[0], target);
      dstInfo.path = target;
      dst = await statPath(client, container, target);
    }
    if (dst) {
      // The docker CLI's ValidateOutputPathFileMode.
      const special = Math.floor(dst.mode / MODE_DEVICE) % 2 === 1 ? 'got a device' : Math.floor(dst.mode / MODE_IRREGULAR) % 2 === 1 ? 'got an irregular file' : '';
      if (special) throw new CliError(`destination "${container}:${dstArg}" must be a directory or a regular file: ${special}`, 1);
      dstInfo.exists = true;
      dstInfo.isDir = isDir(dst.mode);
    }
  }
  const query = { path: '', copyUIDGID: f.archive ? 'true' : undefined, noOverwriteDirNonDir: 'true' };
  if (srcPath === '-') {
    if (!dstInfo.isDir) throw new CliError(`destination "${container}:${dstArg}" must be a directory`, 1);
    await client.call('PUT', `/containers/${container}/archive`, { query: { ...query, path: dstInfo.path }, stream: process.stdin, contentType: 'application/x-tar' });
    return;
  }
  // go-archive's CopyInfoSourcePath: symlinks before the last component are followed; the last one with -L.
  let resolved: string;
  let rebase = '';
  try {
    if (f.followLink) {
      [resolved, rebase] = getRebaseName(srcPath, realpathSync(srcPath));
    } else {
      const slash = srcPath.lastIndexOf('/');
      const dirPart = srcPath.slice(0, slash + 1);
      const basePart = srcPath.slice(slash + 1);
      resolved = (dirPart === '/' ? '' : realpathSync(dirPart)) + '/' + basePart;
      if (srcPath.endsWith('/') && posix.basename(srcPath) !== posix.basename(resolved)) rebase = posix.basename(srcPath);
    }
  } catch (err) {
    throw statError('lstat', srcPath, err as NodeJS.ErrnoException);
  }
  let st;
  try {
    st = lstatSync(resolved);
  } catch (err) {
    throw statError('lstat', resolved, err as NodeJS.ErrnoException);
  }
  const srcInfo: CopyInfo = { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName: rebase };
  const [dstDir, rename] = prepareArchiveCopy(srcInfo, dstInfo);
  const base = splitPathDirEntry(srcInfo.path)[1];
  const tar = packResource(srcInfo.path, (n) => rename(srcInfo.rebaseName ? rebaseName(n, base, srcInfo.rebaseName) : n));
  await client.call('PUT', `/containers/${container}/archive`, { query: { ...query, path: dstDir }, stream: tar, contentType: 'application/x-tar' });
  if (!quiet) summary(quiet, localSize(srcInfo.path), `${container}:${dstInfo.path}`);
}

export function registerCpCommands(program: Command, group: Command): void {
  for (const parent of [program, group]) {
    parent.command('cp')
      .description('Copy files/folders between a container and the local filesystem')
      .usage('[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH')
      .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
      .option('-L, --follow-link', 'Always follow symlinks in SRC_PATH')
      .option('-q, --quiet', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached')
      .argument('<source>')
      .argument('<destination>')
      .action(async (source: string, destination: string, f: CpFlags, cmd: Command) => {
        if (source === '') throw new CliError('source can not be empty', 1);
        if (destination === '') throw new CliError('destination can not be empty', 1);
        const [srcContainer, srcPath] = splitCpArg(source);
        const [dstContainer, dstPath] = splitCpArg(destination);
        if (srcContainer && dstContainer) throw new CliError('copying between containers is not supported', 1);
        if (!srcContainer && !dstContainer) throw new CliError('must specify at least one container source', 1);
        const quiet = f.quiet === true || !process.stderr.isTTY || !process.stdout.isTTY;
        const client = await clientFor(globals(cmd));
        if (srcContainer) await copyFromContainer(client, srcContainer, srcPath, dstPath, f, quiet);
        else await copyToContainer(client, dstContainer, srcPath, dstPath, f, quiet);
      });
  }
}
