// The tar sent to a machine: this host's built berth (dist/ and the pinned
// Node it runs on) under pkg/, with build.mjs's launcher for the remote paths, and
// the machine's configuration under machine/. The bundle carries its npm
// dependencies (esbuild), so dist/ and node are the whole runtime.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { distDir } from '../dist-dir.ts';
import { MachineError } from './store.ts';

const DIST_FILES = ['berth.mjs', 'cli.blob', 'berth-shim', 'berth-idmap', 'berth-spawn', 'chunks'];

/**
 * The Node binary this build runs, read from its cold launcher (so the copy
 * runs what was built for). dist/berth itself is the C launcher with local
 * paths compiled in; a host gets the script, its paths rewritten.
 */
function localLayout(): { dist: string; node: string; launcher: string } {
  const dist = distDir();
  const script = join(dist, 'berth-cold.sh');
  if (!existsSync(script)) throw new MachineError(`Error creating machine: ${script} is missing: build berth first`);
  const launcher = readFileSync(script, 'utf8');
  const m = / exec (\/\S+\/bin\/node) /.exec(launcher);
  if (!m) throw new MachineError(`Error creating machine: cannot find the Node runtime in ${script}`);
  return { dist, node: m[1], launcher };
}

/** Names this build: the bundle's content-hashed chunk names, its entry, the snapshot's size and the Node version. */
export function buildId(): string {
  const { dist, node } = localLayout();
  const h = createHash('sha256');
  h.update(readFileSync(join(dist, 'berth.mjs')));
  for (const c of readdirSync(join(dist, 'chunks')).sort()) h.update(c + '\n');
  for (const f of ['cli.blob', 'berth-shim', 'berth-idmap', 'berth-spawn', 'berth-machine']) h.update(`${f} ${statSync(join(dist, f)).size}\n`);
  h.update(`${node} ${statSync(node).size}\n`);
  return h.digest('hex').slice(0, 24);
}

/**
 * A gzip tar on stdout of `tar`: pkg/ (when `withPackage`) and machine/ with
 * the given files. Call cleanup() once the tar has been read.
 */
export function packageTar(files: Record<string, string | Buffer>, withPackage: boolean): { child: ChildProcess; cleanup: () => void } {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-machine-'));
  const cleanup = (): void => rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(join(tmp, 'machine'), { mode: 0o700 });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, 'machine', name), data, { mode: 0o600 });
    if (withPackage) {
      const { dist, node } = localLayout();
      mkdirSync(join(tmp, 'pkg', 'dist'), { recursive: true });
      mkdirSync(join(tmp, 'pkg', 'node', 'bin'), { recursive: true });
      for (const f of DIST_FILES) {
        if (!existsSync(join(dist, f))) throw new MachineError(`Error creating machine: ${join(dist, f)} is missing: build berth first`);
        symlinkSync(join(dist, f), join(tmp, 'pkg', 'dist', f));
      }
      symlinkSync(node, join(tmp, 'pkg', 'node', 'bin', 'node'));
      // build.mjs's launcher with the remote paths compiled in: the host's CLI is warm as this one's.
      if (!existsSync(join(dist, 'berth-machine'))) throw new MachineError(`Error creating machine: ${join(dist, 'berth-machine')} is missing: build berth first`);
      symlinkSync(join(dist, 'berth-machine'), join(tmp, 'pkg', 'dist', 'berth'));
      writeFileSync(join(tmp, 'pkg', 'BUILD'), buildId() + '\n');
    }
    // -h: the links above stand for the files; gzip -1: the Node binary is most of it, and the link is faster than the squeeze.
    const child = spawn('tar', ['-c', '-h', '--owner=0', '--group=0', '-I', 'gzip -1', '-f', '-', '-C', tmp, ...(withPackage ? ['pkg'] : []), 'machine'], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/**
 * The tar the script install sends: berth's source tree as this host has it
 * (the files git tracks or would, as they are now: what dist/ was built
 * from) under src/, a BUILD naming it, and the machine's files under
 * machine/. Never node_modules or dist/: the host makes its own.
 */
export function sourceTar(files: Record<string, string | Buffer>): { child: ChildProcess; cleanup: () => void } {
  const root = dirname(distDir());
  if (!existsSync(join(root, 'scripts', 'install.sh'))) throw new MachineError(`Error creating machine: --install-method script needs berth's source tree; ${root} has no scripts/install.sh`);
  const ls = spawnSync('git', ['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (ls.status !== 0) throw new MachineError(`Error creating machine: --install-method script needs berth's source tree as a git checkout: ${ls.stderr.trim()}`);
  const paths = [...new Set(ls.stdout.split('\0'))].filter((p) => p && !/^(node_modules|dist)(\/|$)/.test(p) && existsSync(join(root, p))).sort();
  const h = createHash('sha256');
  for (const p of paths) h.update(`${p}\0`).update(readFileSync(join(root, p))).update('\0');
  const tmp = mkdtempSync(join(tmpdir(), 'berth-machine-'));
  const cleanup = (): void => rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(join(tmp, 'machine'), { mode: 0o700 });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, 'machine', name), data, { mode: 0o600 });
    writeFileSync(join(tmp, 'BUILD'), `script-${h.digest('hex').slice(0, 24)}\n`);
    symlinkSync(root, join(tmp, 'src'));
    writeFileSync(join(tmp, 'list'), paths.map((p) => `src/${p}`).join('\0'));
    // src is a link to the tree: --dereference follows it.
    const child = spawn('tar', ['-c', '--dereference', '--owner=0', '--group=0', '-z', '-f', '-', '-C', tmp, 'machine', 'BUILD', '--null', '-T', join(tmp, 'list')], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
