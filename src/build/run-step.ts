// RUN: a step in a real container. Its RUN --mount mounts are made on the
// host side (cache dirs, context or stage binds, secrets, tmpfs), the
// container's overlay upper dir becomes the layer, and what runc created for
// mount points is taken out of it first.
import { holdCacheMount } from './cache-mounts.ts';
import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { ContainerConfig } from '../api/container.ts';
import { SystemError } from '../errors.ts';
import { createImage } from '../images/commit.ts';
import type { Image } from '../images/store.ts';
import type { ExitStatus } from '../runtime/shim.ts';
import type { OciMount } from '../runtime/spec.ts';
import { resolveInRoot } from '../files/rootpath.ts';
import { BuildStepError, checksumEntries, planCopy } from './copy.ts';
import { copyPlanFor } from './copy-step.ts';
import { expandWord, type Instruction } from './dockerfile/index.ts';
import { checkFlags, envMap, flagValue, flagValues } from './instruction-flags.ts';
import { parseRunMount, type RunMount } from './run-mount.ts';
import { layerDirs, PROXY_ARGS, short, type StageState, type StepContext } from './step-context.ts';

/** A step that failed after some succeeded: the last good image is named so it can be run to debug. */
export class StepFailedError extends SystemError {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/** A mount of `src` at `target` whose writes land in `scratch`: an overlay for a directory, a copy for a file. */
async function writableCopyMount(src: string, target: string, scratch: string): Promise<OciMount> {
  const st = await stat(src).catch(() => undefined);
  if (!st) throw new BuildStepError(`failed to mount ${target}: source does not exist`);
  if (!st.isDirectory()) {
    const copy = join(scratch, 'file');
    await copyFile(src, copy);
    await chmod(copy, st.mode & 0o7777);
    return { destination: target, type: 'bind', source: copy, options: ['rbind', 'rw'] };
  }
  // overlay's option string cannot carry these characters in a lowerdir.
  if (/[,:\\]/.test(src)) throw new BuildStepError(`failed to mount ${target} rw: the source path ${JSON.stringify(src)} has a character overlayfs cannot take`);
  await mkdir(join(scratch, 'upper'));
  await mkdir(join(scratch, 'work'));
  return { destination: target, type: 'overlay', source: 'overlay', options: [`lowerdir=${src}`, `upperdir=${scratch}/upper`, `workdir=${scratch}/work`] };
}

/** Build args visible to RUN: declared ones with a value, not shadowed by ENV. */
function runArgs(c: StepContext, st: StageState): string[] {
  const env = envMap(st.config.Env);
  const out: string[] = [];
  for (const [k, v] of st.args) if (v !== undefined && !env.has(k)) out.push(`${k}=${v}`);
  for (const k of PROXY_ARGS) {
    const v = c.req.buildArgs.get(k);
    if (v !== undefined && !st.args.has(k)) out.push(`${k}=${v}`);
  }
  return out;
}

/** RUN: the command in a container of the stage's image; its filesystem changes become the layer. */
export async function runStep(c: StepContext, st: StageState, i: Instruction): Promise<void> {
  checkFlags(i, ['mount', 'network', 'security']);
  if (!st.image && !st.config) throw new BuildStepError('Please provide a source image with `from` prior to run');
  let argv: string[];
  if (i.json) {
    argv = [...i.args];
  } else {
    let script = i.args.join(' ');
    const only = /^<<-?(["']?)([A-Za-z0-9_]+)\1$/.exec(script.trim());
    if (i.heredocs.length && only) {
      script = i.heredocs[0].content; // the heredoc is the script
    } else if (i.heredocs.length) {
      // The shell reads the heredocs itself, as in the Dockerfile.
      script += '\n' + i.heredocs.map((h) => `${h.content}${h.content.endsWith('\n') ? '' : '\n'}${h.name}\n`).join('');
    }
    argv = [...c.shellOf(st), script];
  }
  const network = flagValue(i, 'network') ?? 'default';
  if (!['none', 'default', 'host'].includes(network)) throw new BuildStepError(`unsupported network mode: ${network}`);
  const security = flagValue(i, 'security');
  if (security !== undefined && security !== 'sandbox') throw new BuildStepError(`security mode ${security} is not supported`);
  const env = c.stageEnv(st);
  const mounts = flagValues(i, 'mount').map((m) => parseRunMount(expandWord(m, env), st.config.WorkingDir || '/'));
  const args = runArgs(c, st).sort();
  const createdBy = [...(args.length ? [`|${args.length}`, ...args] : []), ...argv].join(' ');
  // Secrets and cache contents never reach the key: only which mounts there were.
  const mountKey = mounts.map((m) => `${m.type}:${m.target}:${m.from ?? ''}:${m.source ?? ''}:${m.id ?? ''}`);
  const cc: ContainerConfig = { ...st.config, Cmd: args.length ? [`|${args.length}`, ...args, ...argv] : argv };
  if (mountKey.length) cc.Labels = { ...(cc.Labels ?? {}), 'berth.build.mounts': mountKey.join(';') };
  if (network !== 'default') cc.NetworkDisabled = network === 'none';
  // A bind mount of the context changes what the step sees: its files are part of the key.
  for (const m of mounts) {
    if (m.type === 'bind' && m.from === undefined) {
      const entries = await planCopy(copyPlanFor({ dir: c.ctxDir, ignore: c.ignore, isContext: true }, [m.source ?? '.'], '/', true, 'COPY'));
      cc.Labels = { ...(cc.Labels ?? {}), [`berth.build.bind.${m.target}`]: await checksumEntries(entries, '', (p: string) => c.knownDigest(p)) };
    }
  }
  const hit = await c.cached(st.image, cc, c.withParent(st, st.config));
  if (hit) return c.useCache(st, hit);

  const base = st.image;
  if (!base) {
    throw new BuildStepError('RUN in a stage FROM scratch has no shell to run (COPY one in first)');
  }
  const netMode = network === 'none' ? 'none' : network === 'host' ? 'host' : c.req.networkMode;
  const { Id: cid } = await c.d.containers.create(undefined, {
    Image: base.record.id,
    Cmd: argv,
    Entrypoint: [''],
    Env: [...(st.config.Env ?? []), ...args],
    WorkingDir: st.config.WorkingDir || '',
    User: st.config.User || '',
    Labels: {},
    HostConfig: { NetworkMode: netMode, ExtraHosts: c.req.extraHosts, LogConfig: { Type: 'none', Config: {} } },
  }, { anonymousVolumes: false });
  c.out(` ---> Running in ${short(cid)}\n`);
  let ok = false;
  let removed = false;
  // Set once started: the exit after the runtime's cleanup, which a removal waits for.
  let cleanedUp: Promise<unknown> | undefined;
  const removeContainer = async () => {
    if (removed) return;
    removed = true;
    await cleanedUp?.catch(() => {});
    await c.d.containers.remove(cid, { force: true }).catch(() => {});
  };
  c.cleanups.push(async () => {
    if (ok ? c.req.rm : c.req.forceRm) await removeContainer();
  });
  const mountCleanup = await prepareMounts(c, cid, mounts);
  try {
    const live = c.d.containers.output(cid);
    const write = c.writer();
    const onOut = (b: Buffer) => write(b.toString('utf8'));
    live.on('stdout', onOut);
    live.on('stderr', onOut);
    const exited = c.d.containers.wait(cid, 'next-exit', c.signal);
    exited.catch(() => {});
    cleanedUp = exited;
    // The step goes on once the process is gone and its output is in; the runtime's cleanup runs beside the commit.
    let onExited: ((st: ExitStatus) => void) | undefined;
    const gone = new Promise<number>((resolve) => {
      onExited = (st) => resolve(st.exitCode);
      live.once('exited', onExited);
    });
    let code: number;
    try {
      await c.d.containers.start(cid);
      code = await Promise.race([gone, exited.then((r) => r.StatusCode)]);
    } finally {
      live.off('stdout', onOut);
      live.off('stderr', onOut);
      if (onExited) live.off('exited', onExited);
    }
    if (code !== 0) {
      throw new StepFailedError(`The command '${createdBy}' returned a non-zero code: ${code}`, code);
    }
    await removeMountPoints(c, cid, base, mounts);
    const config: ContainerConfig = { ...st.config, Image: base.record.id };
    const img = await createImage(c.d.images.store, c.d.snapshots, {
      base, config, containerConfig: cc, container: cid, author: st.author, history: { created_by: createdBy },
    }, cid);
    ok = true;
    if (c.req.rm) {
      // Removed, once cleaned up, while the next step runs; the build waits for every removal before it ends.
      c.removals.push(removeContainer());
      c.out(` ---> Removed intermediate container ${short(cid)}\n`);
    }
    c.stepDone(st, img, config);
  } finally {
    await mountCleanup();
    // A cancelled build (the client went away) kills and removes its step's container, as dockerd does.
    if (!ok && (c.req.forceRm || c.signal?.aborted)) await removeContainer();
  }
}

/** Host side of RUN --mount: cache dirs, context or stage binds, secrets, tmpfs. */
async function prepareMounts(c: StepContext, cid: string, mounts: RunMount[]): Promise<() => Promise<void>> {
  const oci: OciMount[] = [];
  const undo: Array<() => Promise<void>> = [];
  try {
    for (const m of mounts) {
      const ro = m.readonly ? ['ro'] : ['rw'];
      if (m.type === 'tmpfs') {
        oci.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])] });
      } else if (m.type === 'cache') {
        const id = m.id ?? m.target;
        const dir = join(c.d.cacheRoot, createHash('sha256').update(id).digest('hex').slice(0, 32));
        await mkdir(dir, { recursive: true, mode: m.mode ?? 0o755 });
        undo.push(holdCacheMount(dir));
        oci.push({ destination: m.target, type: 'bind', source: dir, options: ['rbind', ...ro] });
      } else if (m.type === 'secret') {
        const id = m.id ?? posix.basename(m.target);
        const src = c.req.secrets.get(id);
        if (!src) {
          if (m.required) throw new BuildStepError(`secret ${id}: not found`);
          continue;
        }
        oci.push({ destination: m.target, type: 'bind', source: src, options: ['rbind', 'ro'] });
      } else if (m.type === 'bind') {
        let root = c.ctxDir;
        if (m.from !== undefined) {
          const { dir, release } = await c.imageRoot(m.from);
          undo.push(release);
          root = dir;
        }
        const src = resolveInRoot(root, m.source ?? '/');
        if (!m.rw) {
          oci.push({ destination: m.target, type: 'bind', source: src, options: ['rbind', 'ro'] });
        } else {
          // As BuildKit, what a step writes to a rw bind is discarded: the source (the context, whose
          // files COPY may have linked into layers, or a committed layer) is never written to.
          const scratch = await mkdtemp(join(c.d.tmpRoot, 'rw-bind-'));
          undo.push(() => rm(scratch, { recursive: true, force: true }));
          oci.push(await writableCopyMount(src, m.target, scratch));
        }
      }
    }
  } catch (err) {
    for (const u of undo) await u().catch(() => {});
    throw err;
  }
  c.d.containers.setExtraMounts(cid, oci);
  return async () => {
    for (const u of undo) await u().catch(() => {});
  };
}

/**
 * Mount points runc made for RUN --mount targets and /etc files that the
 * image did not have: they belong to the step's sandbox, not its layer (a
 * secret must not leave even an empty file behind).
 */
async function removeMountPoints(c: StepContext, cid: string, base: Image, mounts: RunMount[]): Promise<void> {
  const upper = await c.d.snapshots.dir(cid);
  const lowers = await layerDirs(c.d.snapshots, base);
  const inImage = async (p: string) => {
    for (const dir of lowers) if (await lstat(resolveInRoot(dir, p, false)).catch(() => undefined)) return true;
    return false;
  };
  const targets = [...mounts.map((m) => m.target), '/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];
  for (const t of targets) {
    // The topmost path component the image lacked is what runc created.
    const parts = posix.normalize(t).split('/').filter(Boolean);
    for (let n = 1; n <= parts.length; n++) {
      const p = '/' + parts.slice(0, n).join('/');
      if (await inImage(p)) continue;
      const host = resolveInRoot(upper, p, false);
      const stat = await lstat(host).catch(() => undefined);
      const isMountStub = stat && (stat.isDirectory() || stat.size === 0);
      if (isMountStub && (n === parts.length || mounts.some((m) => m.target === t))) await rm(host, { recursive: true, force: true });
      break;
    }
  }
}
