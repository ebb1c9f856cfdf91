// The store checks of the kill -9 tests (crash.test.ts, crash-ops.test.ts):
// what a restarted daemon must serve consistently, and what must be left of
// its store once everything is removed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestDaemon } from './daemon.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Inspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number };
  HostConfig: { AutoRemove?: boolean };
}
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie is not a live process.
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(100);
  }
}

/** Files below `dir`, skipping the contents of snapshot filesystems (image and container data, not metadata). */
export function walk(dir: string, out: string[] = []): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const p = join(dir, name);
    out.push(p);
    if (/\/overlay2\/snapshots\/[^/]+$/.test(p)) continue;
    let st;
    try { st = statSync(p, { throwIfNoEntry: false }); } catch { continue; }
    if (st?.isDirectory()) walk(p, out);
  }
  return out;
}

/** Processes whose command line names this daemon's exec root: its shims. */
export function shimsOf(execRoot: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmdline.includes(`${execRoot}/`) && cmdline.includes('--state-dir') && alive(Number(p))) out.push({ pid: Number(p), cmdline });
  }
  return out;
}

export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  let prev: string | undefined;
  for (const d of diffIds) {
    prev = prev === undefined ? d : 'sha256:' + createHash('sha256').update(`${prev} ${d}`).digest('hex');
    out.push(prev);
  }
  return out;
}

export function inspectAll(d: TestDaemon): Inspect[] {
  const ps = d.berth(['ps', '-aq', '--no-trunc']);
  assert.equal(ps.code, 0, `ps -a: ${ps.stderr}`);
  const ids = ps.stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const r = d.berth(['inspect', ...ids]);
  if (r.code !== 0) throw new Error(`inspect of every listed container: ${r.stderr}`);
  return JSON.parse(r.stdout) as Inspect[];
}

/**
 * After a restart: every listed container can be inspected, every one
 * reported running really runs (and nothing of this daemon runs that is not
 * reported), all can be stopped and removed, and then no orphan snapshot,
 * container directory, state directory, mount, shim or temp file is left.
 */
export async function checkAfterRestart(d: TestDaemon, round: number | string): Promise<string> {
  const v = d.berth(['version']);
  assert.equal(v.code, 0, `the daemon answers: ${v.stderr}\n${d.log().slice(-3000)}`);

  // Containers of --rm runs that were under way finish and go away on their
  // own; wait for that, so what remains no longer changes.
  let left = '';
  const all = await waitFor('every listed container to be inspectable and no --rm container to be left', () => {
    const cs = inspectAll(d);
    left = cs.filter((c) => c.HostConfig.AutoRemove).map((c) => `${c.Id} ${c.State.Status}`).join(', ');
    return left ? undefined : cs;
  }).catch((err: Error) => { throw new Error(`${err.message} (--rm containers: ${left})`); });

  const running = all.filter((c) => c.State.Running);
  for (const c of running) {
    assert.ok(alive(c.State.Pid), `round ${round}: ${c.Id} reports running with pid ${c.State.Pid}, which is not alive`);
    const e = d.berth(['exec', c.Id, 'echo', 'ok']);
    assert.equal(e.stdout, 'ok\n', `round ${round}: exec in running ${c.Id}: ${e.stderr}`);
  }
  const byId = new Map(all.map((c) => [c.Id, c]));

  // Nothing of this daemon runs that is not reported running.
  for (const id of readdirSync(d.execRoot)) {
    if (id === 'runtime' || id === 'x') continue; // runc's root; exec state dirs
    const c = byId.get(id);
    for (const f of ['pid', 'shim.pid']) {
      const p = join(d.execRoot, id, f);
      if (!existsSync(p)) continue;
      const pid = Number(readFileSync(p, 'utf8').trim());
      if (!alive(pid)) continue;
      assert.ok(c?.State.Running, `round ${round}: ${f} ${pid} of ${id} is alive but the container is ${c ? c.State.Status : 'not listed'}`);
      if (f === 'pid') assert.equal(c.State.Pid, pid, `round ${round}: ${id} reports pid ${c.State.Pid}, its state dir says ${pid}`);
    }
  }
  for (const s of shimsOf(d.execRoot)) {
    if (s.cmdline.includes(`${d.execRoot}/x/`)) continue; // an exec's shim, checked once all is removed
    const id = /--id ([a-f0-9]{64})/.exec(s.cmdline)?.[1];
    assert.ok(id && byId.get(id)?.State.Running, `round ${round}: shim ${s.pid} (${s.cmdline}) runs for a container that is ${id && byId.get(id) ? byId.get(id)!.State.Status : 'not listed'}`);
  }

  // Running containers can be stopped.
  if (running.length) {
    const st = d.berth(['stop', '-t', '5', ...running.map((c) => c.Id)], { timeout: 120_000 });
    assert.equal(st.code, 0, `round ${round}: stop: ${st.stderr}`);
    for (const c of running) {
      const s = d.berth(['inspect', '-f', '{{.State.Running}}', c.Id]).stdout;
      assert.equal(s, 'false\n', `round ${round}: ${c.Id} stopped`);
      await waitFor(`pid ${c.State.Pid} of stopped ${c.Id} to be gone`, () => !alive(c.State.Pid));
    }
  }

  // Everything can be removed, and then nothing is left of any container.
  if (all.length) {
    const rm = d.berth(['rm', '-f', ...all.map((c) => c.Id)], { timeout: 120_000 });
    assert.equal(rm.code, 0, `round ${round}: rm -f of everything: ${rm.stderr}`);
  }
  assert.deepEqual(inspectAll(d), [], `round ${round}: no containers after rm -f of everything`);
  assert.deepEqual(readdirSync(join(d.dataRoot, 'containers')), [], `round ${round}: the containers dir is empty`);
  // Besides the containers' state dirs, the exec root holds the daemon's own: runc's root, exec
  // state, network namespaces, and the scratch mount points of export and of volume subpaths.
  assert.deepEqual(readdirSync(d.execRoot).filter((e) => !['runtime', 'x', 'netns', 'exports', 'mounts'].includes(e)), [], `round ${round}: no state dirs in the exec root`);
  assert.deepEqual(existsSync(join(d.execRoot, 'mounts')) ? readdirSync(join(d.execRoot, 'mounts')) : [], [], `round ${round}: no volume subpath staged`);
  assert.deepEqual(existsSync(join(d.execRoot, 'netns')) ? readdirSync(join(d.execRoot, 'netns')) : [], [], `round ${round}: no network namespaces left`);
  assert.deepEqual(existsSync(join(d.execRoot, 'x')) ? readdirSync(join(d.execRoot, 'x')) : [], [], `round ${round}: no exec state dirs`);
  assert.deepEqual(existsSync(join(d.execRoot, 'exports')) ? readdirSync(join(d.execRoot, 'exports')) : [], [], `round ${round}: no export mounts left`);
  for (const rt of existsSync(join(d.execRoot, 'runtime')) ? readdirSync(join(d.execRoot, 'runtime')) : []) {
    assert.deepEqual(readdirSync(join(d.execRoot, 'runtime', rt)).filter((e) => /^[a-f0-9]{64}$/.test(e)), [], `round ${round}: no runtime state of containers (${rt})`);
  }
  assert.deepEqual(shimsOf(d.execRoot).map((s) => s.cmdline), [], `round ${round}: no shims left`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(d.dir + '/'));
  assert.deepEqual(mounts, [], `round ${round}: nothing mounted below the daemon's roots`);

  // Snapshots: only committed image layers, each one a layer of an image.
  const metaDir = join(d.dataRoot, 'overlay2', 'metadata');
  const metas = readdirSync(metaDir).filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .map((f) => JSON.parse(readFileSync(join(metaDir, f), 'utf8')) as { key: string; id: string; kind: string });
  assert.deepEqual(metas.filter((m) => m.kind !== 'committed').map((m) => `${m.kind} ${m.key}`), [], `round ${round}: no active snapshots left`);
  const dirs = readdirSync(join(d.dataRoot, 'overlay2', 'snapshots')).sort();
  assert.deepEqual(dirs, [...new Set(metas.map((m) => m.id))].sort(), `round ${round}: every snapshot dir belongs to a layer`);
  const imageIds = d.berth(['images', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
  const layers = new Set<string>();
  if (imageIds.length) {
    const imgs = JSON.parse(d.berth(['image', 'inspect', ...new Set(imageIds)]).stdout) as { RootFS: { Layers?: string[] } }[];
    for (const img of imgs) for (const c of chainIds(img.RootFS.Layers ?? [])) layers.add(c);
  }
  const unused = metas.filter((m) => !layers.has(m.key)).map((m) => m.key);
  assert.deepEqual(unused, [], `round ${round}: every committed layer left is a layer of an image`);

  // No temp file of an atomic write is left anywhere.
  const tmps = [...walk(d.dataRoot), ...walk(d.execRoot)].filter((p) => p.endsWith('.tmp'));
  assert.deepEqual(tmps, [], `round ${round}: no temp files left`);

  const ok = d.berth(['run', '--rm', 'busybox', 'echo', 'ok']);
  assert.equal(ok.stdout, 'ok\n', `round ${round}: run --rm after the checks: ${ok.stderr}`);
  return `${all.length} containers after restart, ${running.length} running`;
}


interface ImageInspect { Id: string; RepoTags: string[]; RootFS: { Layers?: string[] } }

/**
 * Every listed image can be inspected, and nothing of it is lost: its config
 * blob is in the content store and every layer is a committed snapshot with
 * its files; no unfinished ingest is left. Returns the images.
 */
export function checkImages(d: TestDaemon, round: number | string): ImageInspect[] {
  const ids = [...new Set(d.berth(['images', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean))];
  if (ids.length === 0) return [];
  const r = d.berth(['image', 'inspect', ...ids]);
  assert.equal(r.code, 0, `round ${round}: inspect of every listed image: ${r.stderr}`);
  const imgs = JSON.parse(r.stdout) as ImageInspect[];
  const metaDir = join(d.dataRoot, 'overlay2', 'metadata');
  const byKey = new Map(readdirSync(metaDir).filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .map((f) => JSON.parse(readFileSync(join(metaDir, f), 'utf8')) as { key: string; id: string; kind: string }).map((m) => [m.key, m]));
  for (const img of imgs) {
    assert.ok(existsSync(join(d.dataRoot, 'image', 'blobs', 'sha256', img.Id.slice(7))), `round ${round}: config blob of ${img.Id} ${img.RepoTags} is present`);
    for (const c of chainIds(img.RootFS.Layers ?? [])) {
      const m = byKey.get(c);
      assert.equal(m?.kind, 'committed', `round ${round}: layer ${c} of ${img.Id} ${img.RepoTags} is a committed snapshot`);
      assert.ok(existsSync(join(d.dataRoot, 'overlay2', 'snapshots', m.id, 'fs')), `round ${round}: files of layer ${c} of ${img.Id} are present`);
    }
  }
  const ingest = join(d.dataRoot, 'image', 'ingest');
  assert.deepEqual(existsSync(ingest) ? readdirSync(ingest) : [], [], `round ${round}: no unfinished ingest left after the restart`);
  return imgs;
}
