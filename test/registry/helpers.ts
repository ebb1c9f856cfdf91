// Shared test helpers: start the real registry as a child process (through
// run-registry.ts, as `berth registry serve` would), talk HTTP to it, and
// build small images (real gzip'd tar layers, OCI layouts for skopeo).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const NODE = join(ROOT, 'node_modules/.bin/node');
export const LAUNCHER = join(ROOT, 'test/registry/run-registry.ts');

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export function tempDir(prefix = 'berth-reg-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function sha256(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export interface Registry {
  url: string;
  /** host:port, for docker:// references */
  host: string;
  root: string;
  configPath: string;
  proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** Writes `config` (merged over a loopback/port-0/temp-storage default) and starts the registry. */
export async function startRegistry(config: Record<string, unknown> = {}, opts: { root?: string; dir?: string } = {}): Promise<Registry> {
  const dir = opts.dir ?? tempDir();
  const root = opts.root ?? join(dir, 'data');
  const base: Record<string, unknown> = {
    version: 0.1,
    storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
    http: { addr: '127.0.0.1:0' },
  };
  const merged = deepMerge(base, config);
  const configPath = join(dir, `config-${randomBytes(3).toString('hex')}.yml`);
  writeFileSync(configPath, stringify(merged));
  const reg = await launch(['serve', configPath], root, configPath);
  if (opts.dir) return reg;
  // The directory is ours: remove it with the registry.
  const stop = reg.stop;
  return { ...reg, stop: async () => { await stop(); cleanup(dir); } };
}

export async function launch(args: string[], root: string, configPath: string): Promise<Registry> {
  const proc = spawn(NODE, [LAUNCHER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => { out += c.toString(); });
  proc.stderr?.on('data', (c: Buffer) => { out += c.toString(); });
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`registry did not start:\n${out}`)), 15_000);
    const check = (): void => {
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]);
      }
    };
    proc.stdout?.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`registry exited with ${code}:\n${out}`));
    });
  });
  const exited = new Promise<void>((res) => proc.on('exit', () => res()));
  return {
    url,
    host: new URL(url).host,
    root,
    configPath,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    kill9: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)) {
      out[k] = deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>);
    } else {
      out[k] = v;
    }
  }
  return out;
}

export interface Res {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export async function http(
  method: string,
  url: string,
  opts: { headers?: Record<string, string>; body?: Uint8Array | string } = {},
): Promise<Res> {
  const r = await fetch(url, { method, headers: opts.headers, body: opts.body, redirect: 'manual' });
  const body = Buffer.from(await r.arrayBuffer());
  return {
    status: r.status,
    headers: r.headers,
    body,
    text: body.toString('utf8'),
    json: <T,>() => JSON.parse(body.toString('utf8')) as T,
  };
}

export function basic(user: string, password: string): Record<string, string> {
  return { Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') };
}

export function errorCode(r: Res): string | undefined {
  try {
    return r.json<{ errors: Array<{ code: string }> }>().errors[0]?.code;
  } catch {
    return undefined;
  }
}

// ---- images ----------------------------------------------------------------------

/** A ustar archive with the given files (enough for a real image layer). */
export function tar(files: Record<string, Uint8Array | string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface Blob {
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

export interface Image {
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  manifestDigest: string;
}

export function layer(files: Record<string, Uint8Array | string>): { blob: Blob; diffId: string } {
  const raw = tar(files);
  const gz = gzipSync(raw);
  return { blob: { digest: sha256(gz), bytes: gz, mediaType: OCI_LAYER }, diffId: sha256(raw) };
}

/** An OCI image of the given layers (each a small file set); `cmd` makes it runnable. */
export function image(layers: Array<{ blob: Blob; diffId: string }>, note = '', opts: { arch?: string; cmd?: string[] } = {}): Image {
  const config = Buffer.from(JSON.stringify({
    architecture: opts.arch ?? 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], ...(opts.cmd ? { Cmd: opts.cmd } : {}), Labels: { note } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  }));
  const configBlob: Blob = { digest: sha256(config), bytes: config, mediaType: OCI_CONFIG };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configBlob.digest, size: config.length },
    layers: layers.map((l) => ({ mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.bytes.length })),
  }));
  return { config: configBlob, layers: layers.map((l) => l.blob), manifest, manifestDigest: sha256(manifest) };
}

export function randomImage(layerCount = 2, layerBytes = 4096, note = ''): Image {
  const ls = [];
  for (let i = 0; i < layerCount; i++) ls.push(layer({ [`file${i}.bin`]: randomBytes(layerBytes) }));
  return image(ls, note);
}

/** Writes an OCI image layout skopeo can read as oci:DIR:TAG. */
export function writeOciLayout(dir: string, img: Image, tag: string): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const b of [img.config, ...img.layers]) writeFileSync(join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.bytes);
  writeFileSync(join(dir, 'blobs', 'sha256', img.manifestDigest.slice(7)), img.manifest);
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: OCI_MANIFEST,
      digest: img.manifestDigest,
      size: img.manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    }],
  }));
}

/** Pushes blobs (monolithic POST) and the manifest with plain HTTP. */
export async function pushImage(url: string, repo: string, img: Image, tag: string, headers: Record<string, string> = {}): Promise<Res> {
  for (const b of [img.config, ...img.layers]) {
    const head = await http('HEAD', `${url}/v2/${repo}/blobs/${b.digest}`, { headers });
    if (head.status === 200) continue;
    const r = await http('POST', `${url}/v2/${repo}/blobs/uploads/?digest=${b.digest}`, {
      headers: { ...headers, 'Content-Type': 'application/octet-stream' },
      body: b.bytes,
    });
    if (r.status === 202) {
      // Registries without single-POST uploads (the CNCF one) answer 202: PUT to the session.
      const loc = new URL(r.headers.get('location') as string, url);
      loc.searchParams.set('digest', b.digest);
      const put = await http('PUT', loc.toString(), { headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: b.bytes });
      if (put.status !== 201) return put;
      continue;
    }
    if (r.status !== 201) return r;
  }
  return http('PUT', `${url}/v2/${repo}/manifests/${tag}`, { headers: { ...headers, 'Content-Type': OCI_MANIFEST }, body: img.manifest });
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking the event loop (the registry child's log
 * pipe must keep draining while skopeo talks to it).
 */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolveRun) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolveRun({ status, stdout, stderr });
    });
  });
}

export function skopeo(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run('skopeo', args, timeoutMs);
}

export function cleanup(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/** Runs `berth registry ARGS` to completion (gc, meta). */
export function runCli(args: string[]): Promise<RunResult> {
  return run(NODE, [LAUNCHER, ...args]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
