// Push and pull of a ~500 MB image (5 layers of random content, gzip'd) to
// the CNCF distribution registry (Debian's docker-registry) on loopback,
// berth beside `skopeo copy` in the same run. Prints medians and ratios.
//
//   node_modules/.bin/node bench/distribution.ts [--runs N] [--layer-mb N]
//
// The image is written once as an OCI layout. Pull: a seeded registry →
// berth pull (download, verify, unpack into overlay snapshots) vs skopeo copy
// docker:// → oci: (download and verify only) and docker:// →
// containers-storage:[overlay@…] (download and unpack into overlay layers, as
// podman's store does: the like-for-like peer). Push: berth push of the pulled
// image (its original blobs) vs skopeo copy oci: → docker://, each to a fresh
// registry so that every blob is uploaded.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BERTH, startSeededDaemon } from '../test/helpers/daemon.ts';
import { startCncfRegistry, runAsync } from '../test/helpers/registries.ts';
import { tar } from '../test/registry/helpers.ts';
import { median } from './measure.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const RUNS = arg('runs', 3);
const LAYER_MB = arg('layer-mb', 100);
const LAYERS = 5;

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Writes the OCI layout; returns the total size of the layer blobs. */
function writeLayout(dir: string): number {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const layers: Array<{ digest: string; size: number; diffId: string }> = [];
  for (let i = 0; i < LAYERS; i++) {
    const raw = tar({ [`layer${i}.bin`]: randomBytes(LAYER_MB * 1024 * 1024) });
    const gz = gzipSync(raw, { level: 1 });
    writeFileSync(join(dir, 'blobs', 'sha256', sha(gz).slice(7)), gz);
    layers.push({ digest: sha(gz), size: gz.length, diffId: sha(raw) });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  writeFileSync(join(dir, 'blobs', 'sha256', sha(config).slice(7)), config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  }));
  writeFileSync(join(dir, 'blobs', 'sha256', sha(manifest).slice(7)), manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
  }));
  return layers.reduce((n, l) => n + l.size, 0);
}

async function timed(cmd: string, args: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await runAsync(cmd, args, { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout.slice(-500)}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function sync(): Promise<void> {
  return new Promise((r) => spawn('sync').on('exit', () => r()));
}

const work = mkdtempSync('/tmp/berth-bench-dist-');
const layout = join(work, 'layout');
process.stderr.write(`writing a ${LAYERS}×${LAYER_MB} MiB image…\n`);
const bytes = writeLayout(layout);
const seed = await startCncfRegistry();
const d = await startSeededDaemon();
const berth = ['-H', d.host];
const results = { berthPull: [] as number[], skopeoPull: [] as number[], skopeoPullUnpacked: [] as number[], berthPush: [] as number[], skopeoPush: [] as number[] };
try {
  const seeded = await runAsync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${seed.host}/bench:1`], { timeoutMs: 600_000 });
  if (seeded.code !== 0) throw new Error(seeded.stderr);
  for (let run = 0; run < RUNS; run++) {
    process.stderr.write(`run ${run + 1}/${RUNS}\n`);
    // Pull, berth: a fresh store for the image each time (rmi drops its layers and blobs).
    await runAsync(BERTH, [...berth, 'rmi', `${seed.host}/bench:1`]);
    await sync();
    results.berthPull.push(await timed(BERTH, [...berth, 'pull', `${seed.host}/bench:1`]));
    const out = join(work, `skopeo-pull-${run}`);
    await sync();
    results.skopeoPull.push(await timed('skopeo', ['copy', '--src-tls-verify=false', `docker://${seed.host}/bench:1`, `oci:${out}:bench`]));
    rmSync(out, { recursive: true, force: true });
    const cs = join(work, `containers-storage-${run}`);
    await sync();
    results.skopeoPullUnpacked.push(await timed('skopeo', ['copy', '--src-tls-verify=false', `docker://${seed.host}/bench:1`, `containers-storage:[overlay@${cs}/graph+${cs}/run]localhost/bench:1`]));
    // containers-storage leaves its overlay directory bind-mounted on itself.
    await runAsync('umount', [join(cs, 'graph', 'overlay')]);
    rmSync(cs, { recursive: true, force: true });

    // Push, each to a fresh registry.
    const a = await startCncfRegistry();
    await runAsync(BERTH, [...berth, 'tag', `${seed.host}/bench:1`, `${a.host}/bench:1`]);
    await sync();
    results.berthPush.push(await timed(BERTH, [...berth, 'push', `${a.host}/bench:1`]));
    await runAsync(BERTH, [...berth, 'rmi', `${a.host}/bench:1`]);
    await a.stop();
    const b = await startCncfRegistry();
    await sync();
    results.skopeoPush.push(await timed('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${b.host}/bench:1`]));
    await b.stop();
  }
} finally {
  await d.destroy();
  await seed.stop();
  rmSync(work, { recursive: true, force: true });
}

const mib = bytes / (1024 * 1024);
const row = (label: string, b: number[], s: number[]) => {
  const mb = median(b);
  const ms = median(s);
  return `| ${label} | ${mb.toFixed(2)} s (${(mib / mb).toFixed(0)} MiB/s) | ${ms.toFixed(2)} s (${(mib / ms).toFixed(0)} MiB/s) | ${(ms / mb).toFixed(2)}× |`;
};
process.stdout.write(`${LAYERS} layers, ${mib.toFixed(0)} MiB of gzip'd blobs; medians of ${RUNS} runs\n`);
process.stdout.write('| operation | berth | skopeo copy | berth throughput / skopeo |\n|---|---:|---:|---:|\n');
process.stdout.write(row('pull (skopeo: to oci:, not unpacked)', results.berthPull, results.skopeoPull) + '\n');
process.stdout.write(row('pull (skopeo: to containers-storage overlay, unpacked)', results.berthPull, results.skopeoPullUnpacked) + '\n');
process.stdout.write(row('push', results.berthPush, results.skopeoPush) + '\n');
process.stdout.write(`raw seconds: ${JSON.stringify(results)}\n`);
