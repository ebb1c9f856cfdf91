// Registry benchmark: concurrent push and pull throughput of the same image
// set against berth's registry and the CNCF distribution registry (Debian's
// docker-registry), side by side on loopback, plus each server's peak RSS.
//
//   node_modules/.bin/node bench/registry.ts [--rounds N] [--images N] [--layer-mb N]
//
// Both servers get a fresh filesystem store, default logging (discarded), no
// auth. The client is the same Node fetch code for both; it pushes every
// image of a round at once (each image's blobs in parallel, chunked
// POST/PATCH/PUT uploads like docker), then pulls them all at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem, tmpdir, release } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const BUILD_DIR = mkdtempSync(join(tmpdir(), 'bench-berth-build-'));

/**
 * berth ships as one esbuild bundle (scripts/build.mjs), so the benchmark
 * runs the registry bundled the same way rather than through Node's runtime
 * type stripping, which would add its own memory and start-up cost.
 */
async function bundleRegistry(): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(BUILD_DIR, 'registry.mjs');
  await build({
    entryPoints: [join(ROOT, 'test/registry/run-registry.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node26',
    banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const ROUNDS = arg('rounds', 5);
const IMAGES = arg('images', 6);
const LAYER_MB = arg('layer-mb', 8);

interface Blob { digest: string; bytes: Buffer }
interface Img { blobs: Blob[]; manifest: Buffer }

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** IMAGES images: one shared base layer (2x size) plus two unique layers each, and a config. */
function makeImageSet(): Img[] {
  const base = randomBytes(2 * LAYER_MB * 1024 * 1024);
  const baseBlob = { digest: sha(base), bytes: base };
  return Array.from({ length: IMAGES }, (_, i) => {
    const layers = [baseBlob, ...[0, 1].map(() => {
      const b = randomBytes(LAYER_MB * 1024 * 1024);
      return { digest: sha(b), bytes: b };
    })];
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, n: i }));
    const config = { digest: sha(cfg), bytes: cfg };
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: cfg.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.bytes.length })),
    }));
    return { blobs: [config, ...layers], manifest };
  });
}

async function pushBlob(url: string, repo: string, b: Blob): Promise<void> {
  const head = await fetch(`${url}/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await post.arrayBuffer();
  if (post.status !== 202) throw new Error(`POST ${post.status}`);
  const patchUrl = new URL(post.headers.get('location') as string, url);
  const patch = await fetch(patchUrl, { method: 'PATCH', body: b.bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  await patch.arrayBuffer();
  if (patch.status !== 202) throw new Error(`PATCH ${patch.status}`);
  const putUrl = new URL(patch.headers.get('location') as string, url);
  putUrl.searchParams.set('digest', b.digest);
  const put = await fetch(putUrl, { method: 'PUT' });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`PUT ${put.status}`);
}

async function push(url: string, repo: string, img: Img): Promise<number> {
  await Promise.all(img.blobs.map((b) => pushBlob(url, repo, b)));
  const r = await fetch(`${url}/v2/${repo}/manifests/latest`, {
    method: 'PUT', body: img.manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  await r.arrayBuffer();
  if (r.status !== 201) throw new Error(`manifest PUT ${r.status}`);
  return img.blobs.reduce((n, b) => n + b.bytes.length, 0);
}

async function pull(url: string, repo: string): Promise<number> {
  const m = await fetch(`${url}/v2/${repo}/manifests/latest`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  if (m.status !== 200) throw new Error(`manifest GET ${m.status}`);
  type Desc = { digest: string; size: number };
  const manifest = JSON.parse(await m.text()) as { config: Desc; layers: Desc[] };
  const sizes = await Promise.all([manifest.config, ...manifest.layers].map(async (d) => {
    const r = await fetch(`${url}/v2/${repo}/blobs/${d.digest}`);
    if (r.status !== 200 || !r.body) throw new Error(`blob GET ${r.status}`);
    let n = 0;
    for await (const chunk of r.body) n += (chunk as Uint8Array).length;
    // A short or padded body would inflate the numbers: count only complete blobs.
    if (n !== d.size) throw new Error(`blob ${d.digest}: got ${n} bytes, manifest says ${d.size}`);
    return n;
  }));
  return sizes.reduce((a, b) => a + b, 0);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

interface Server { name: string; url: string; proc: ChildProcess; dir: string }

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 200) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

async function startServer(kind: 'berth' | 'cncf', bundle: string): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${kind}-`));
  const port = await freePort();
  const cfg = join(dir, 'config.yml');
  writeFileSync(cfg, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const proc = kind === 'berth'
    ? spawn(NODE, [bundle, 'serve', cfg], { stdio: 'ignore' })
    : spawn('docker-registry', ['serve', cfg], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  return { name: kind === 'berth' ? 'berth registry' : 'CNCF docker-registry 2.8', url, proc, dir };
}

/** Peak resident set size of a process, from the kernel's high-water mark. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const bundle = await bundleRegistry();
  const servers = [await startServer('berth', bundle), await startServer('cncf', bundle)];
  const results = new Map<string, { push: number[]; pull: number[] }>(servers.map((s) => [s.name, { push: [], pull: [] }]));
  let setMb = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const images = makeImageSet();
      setMb = images.reduce((n, i) => n + i.blobs.reduce((m, b) => m + b.bytes.length, 0), 0) / 1048576;
      // Alternate which server goes first so neither always gets the warmer page cache.
      const order = round % 2 ? [...servers].reverse() : servers;
      for (const s of order) {
        const r = results.get(s.name) as { push: number[]; pull: number[] };
        let t = performance.now();
        const pushed = await Promise.all(images.map((img, i) => push(s.url, `bench/r${round}/img${i}`, img)));
        r.push.push(pushed.reduce((a, b) => a + b, 0) / 1048576 / ((performance.now() - t) / 1000));
        t = performance.now();
        const pulled = await Promise.all(images.map((_, i) => pull(s.url, `bench/r${round}/img${i}`)));
        r.pull.push(pulled.reduce((a, b) => a + b, 0) / 1048576 / ((performance.now() - t) / 1000));
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
    const rss = new Map(servers.map((s) => [s.name, peakRssMb(s.proc.pid as number)]));
    const [b, c] = servers.map((s) => s.name);
    const rb = results.get(b) as { push: number[]; pull: number[] };
    const rc = results.get(c) as { push: number[]; pull: number[] };
    const fmt = (n: number): string => n.toFixed(1);
    console.log(`Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}`);
    console.log(`Workload: ${ROUNDS} rounds; each round pushes ${IMAGES} images concurrently (${fmt(setMb)} MiB of blobs: a shared ${2 * LAYER_MB} MiB base layer + 2 x ${LAYER_MB} MiB unique layers per image; chunked uploads), then pulls all of them concurrently.`);
    console.log('');
    console.log('| server | push MiB/s (median) | pull MiB/s (median) | peak RSS MiB |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const s of servers) {
      const r = results.get(s.name) as { push: number[]; pull: number[] };
      console.log(`| ${s.name} | ${fmt(median(r.push))} | ${fmt(median(r.pull))} | ${fmt(rss.get(s.name) as number)} |`);
    }
    console.log(`| berth / CNCF | ${(median(rb.push) / median(rc.push)).toFixed(2)}x | ${(median(rb.pull) / median(rc.pull)).toFixed(2)}x | ${((rss.get(b) as number) / (rss.get(c) as number)).toFixed(2)}x |`);
    console.log('');
    console.log(`per-round push MiB/s: berth [${rb.push.map(fmt).join(', ')}], CNCF [${rc.push.map(fmt).join(', ')}]`);
    console.log(`per-round pull MiB/s: berth [${rb.pull.map(fmt).join(', ')}], CNCF [${rc.pull.map(fmt).join(', ')}]`);
  } finally {
    for (const s of servers) {
      s.proc.kill('SIGTERM');
      rmSync(s.dir, { recursive: true, force: true });
    }
    rmSync(BUILD_DIR, { recursive: true, force: true });
  }
}

await main();
