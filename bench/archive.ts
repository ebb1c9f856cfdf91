// save/load benchmark: an image of ~500 MB in 5 layers of random content,
// `berth save` and `berth load` (and the docker CLI's, against the same
// daemon) beside skopeo doing comparable work in the same run: writing a
// docker-archive from an OCI layout, and reading one back into an OCI layout.
// berth's load does more than skopeo's copy (it also unpacks every layer onto
// overlay2), so the load ratio is an upper bound on the archive-handling cost.
//   node_modules/.bin/node bench/archive.ts [runs] [MiB per layer]
import { spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';
import { median } from './measure.ts';

const RUNS = Number(process.argv[2] ?? 3);
const LAYER_MIB = Number(process.argv[3] ?? 100);
const LAYERS = 5;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** A one-file layer tar of `mib` MiB of random bytes; returns its sha256. */
function writeLayer(path: string, name: string, mib: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  const put = (b: Buffer) => {
    hash.update(b);
    writeSync(fd, b);
  };
  const size = mib << 20;
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(size.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  put(header);
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) put(randomFillSync(chunk));
  put(Buffer.alloc(1024));
  closeSync(fd);
  return 'sha256:' + hash.digest('hex');
}

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** An OCI layout with the image, tagged `v1`. */
function writeLayout(dir: string): number {
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const layers: { digest: string; size: number }[] = [];
  for (let i = 0; i < LAYERS; i++) {
    const tmp = join(dir, `layer${i}.tmp`);
    const digest = writeLayer(tmp, `data${i}.bin`, LAYER_MIB);
    spawnSync('mv', [tmp, join(dir, 'blobs/sha256', digest.slice(7))]);
    layers.push({ digest, size: statSync(join(dir, 'blobs/sha256', digest.slice(7))).size });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  writeFileSync(join(dir, 'blobs/sha256', sha(config).slice(7)), config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  }));
  writeFileSync(join(dir, 'blobs/sha256', sha(manifest).slice(7)), manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  return layers.reduce((n, l) => n + l.size, 0);
}

const work = mkdtempSync('/tmp/berth-bench-archive-');
const d = await startSeededDaemon();
try {
  const layout = join(work, 'layout');
  const bytes = writeLayout(layout);
  const mib = bytes / (1 << 20);
  const seed = join(work, 'seed.tar');
  timed('skopeo', ['copy', '-q', `oci:${layout}:v1`, `docker-archive:${seed}:bench/big:v1`]);
  const berth = ['-H', d.host];
  timed(BERTH, [...berth, 'load', '-i', seed]);
  const dockerEnv = { ...process.env, DOCKER_HOST: d.host };
  const out = join(work, 'out.tar');
  const res: Record<string, number[]> = {};
  const add = (k: string, s: number) => (res[k] ??= []).push(s);
  for (let i = 0; i < RUNS; i++) {
    rmSync(out, { force: true });
    add('berth save', timed(BERTH, [...berth, 'save', '-o', out, 'bench/big:v1']));
    rmSync(out, { force: true });
    if (DOCKER) add('docker save', timed(DOCKER, ['save', '-o', out, 'bench/big:v1'], dockerEnv));
    timed(BERTH, [...berth, 'rmi', 'bench/big:v1']);
    add('berth load', timed(BERTH, [...berth, 'load', '-i', out]));
    if (DOCKER) {
      timed(BERTH, [...berth, 'rmi', 'bench/big:v1']);
      add('docker load', timed(DOCKER, ['load', '-i', out], dockerEnv));
    }
    const peer = join(work, 'skopeo.tar');
    rmSync(peer, { force: true });
    add('skopeo save', timed('skopeo', ['copy', '-q', `oci:${layout}:v1`, `docker-archive:${peer}:bench/big:v1`]));
    const back = join(work, 'back');
    rmSync(back, { recursive: true, force: true });
    add('skopeo load', timed('skopeo', ['copy', '-q', `docker-archive:${peer}`, `oci:${back}:v1`]));
    rmSync(back, { recursive: true, force: true });
    rmSync(peer, { force: true });
  }
  console.log(`image: ${LAYERS} layers, ${mib.toFixed(0)} MiB; medians of ${RUNS} runs`);
  console.log('| operation | seconds | MiB/s | runs (s) |');
  console.log('|---|---:|---:|---|');
  for (const [k, v] of Object.entries(res)) console.log(`| ${k} | ${median(v).toFixed(2)} | ${(mib / median(v)).toFixed(0)} | ${v.map((x) => x.toFixed(2)).join(', ')} |`);
  const ratio = (a: string, b: string) => (res[a] && res[b] ? (median(res[b]) / median(res[a])).toFixed(2) : '—');
  console.log(`throughput ratio berth/skopeo: save ${ratio('berth save', 'skopeo save')}×, load ${ratio('berth load', 'skopeo load')}×`);
} finally {
  await d.destroy();
  rmSync(work, { recursive: true, force: true });
}
