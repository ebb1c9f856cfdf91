// Instructions that change only the image config (CMD, ENTRYPOINT, ENV,
// LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, SHELL, ONBUILD,
// HEALTHCHECK, MAINTAINER): each a step whose image has no new layer and a
// `#(nop)` history entry — except WORKDIR of a directory the image lacks.
import { posix } from 'node:path';
import type { ContainerConfig } from '../api/container.ts';
import { recordImage } from '../images/commit.ts';
import { BuildStepError, entriesLayer, lookupInLayers, resolveInLayers } from './copy.ts';
import { expandWord, expandWords, type Instruction } from './dockerfile/index.ts';
import { checkFlags, flagValue, parseDuration, setEnv } from './instruction-flags.ts';
import { DEFAULT_SHELL, layerDirs, type StageState, type StepContext } from './step-context.ts';

/** Runs a metadata instruction; an instruction of no kind berth knows is an error. */
export function metaInstruction(ctx: StepContext, st: StageState, i: Instruction, env: Map<string, string>): Promise<void> {
  const ex = (w: string) => expandWord(w, env);
  const c: ContainerConfig = structuredClone(st.config);
  switch (i.keyword) {
    case 'cmd': {
      checkFlags(i, []);
      c.Cmd = commandArgs(st, i);
      st.cmdSet = true;
      return metaStep(ctx, st, c, `CMD ${JSON.stringify(c.Cmd)}`);
    }
    case 'entrypoint': {
      checkFlags(i, []);
      c.Entrypoint = commandArgs(st, i);
      if (!st.cmdSet) c.Cmd = null;
      return metaStep(ctx, st, c, `ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`);
    }
    case 'env': {
      const parts: string[] = [];
      for (let k = 0; k + 1 < i.args.length; k += 3) {
        const key = ex(i.args[k]);
        const value = ex(i.args[k + 1]);
        if (key === '') throw new BuildStepError('ENV names can not be blank');
        c.Env = setEnv(c.Env, key, value);
        env.set(key, value);
        parts.push(`${key}=${value}`);
      }
      return metaStep(ctx, st, c, `ENV ${parts.join(' ')}`);
    }
    case 'label': {
      const parts: string[] = [];
      c.Labels = { ...(c.Labels ?? {}) };
      for (let k = 0; k + 1 < i.args.length; k += 3) {
        const key = ex(i.args[k]);
        const value = ex(i.args[k + 1]);
        if (key === '') throw new BuildStepError('LABEL names can not be blank');
        c.Labels[key] = value;
        parts.push(`${key}=${value}`);
      }
      return metaStep(ctx, st, c, `LABEL ${parts.join(' ')}`);
    }
    case 'maintainer':
      st.author = i.args.join(' ');
      return metaStep(ctx, st, c, `MAINTAINER ${st.author}`);
    case 'expose': {
      const ports: string[] = [];
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const raw of i.args.map(ex).flatMap((w) => w.split(/\s+/)).filter(Boolean)) {
        const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(raw);
        if (!m) throw new BuildStepError(`invalid containerPort: ${raw}`);
        const lo = Number(m[1]);
        const hi = m[2] ? Number(m[2]) : lo;
        if (lo < 1 || hi > 65535 || hi < lo) throw new BuildStepError(`invalid containerPort: ${raw}`);
        for (let p = lo; p <= hi; p++) c.ExposedPorts[`${p}/${(m[3] ?? 'tcp').toLowerCase()}`] = {};
        ports.push(raw);
      }
      return metaStep(ctx, st, c, `EXPOSE ${ports.join(' ')}`);
    }
    case 'volume': {
      c.Volumes = { ...(c.Volumes ?? {}) };
      const vols = (i.json ? i.args.map(ex) : i.args.flatMap((a) => expandWords(a, env))).filter((v) => v.trim() !== '');
      if (vols.length === 0) throw new BuildStepError('VOLUME specified can not be an empty string');
      for (const v of vols) c.Volumes[v] = {};
      return metaStep(ctx, st, c, `VOLUME ${JSON.stringify(vols)}`);
    }
    case 'user':
      c.User = ex(i.args[0] ?? '');
      return metaStep(ctx, st, c, `USER ${c.User}`);
    case 'workdir': {
      const dir = ex(i.args[0] ?? '');
      c.WorkingDir = posix.resolve(st.config.WorkingDir || '/', dir);
      return workdirStep(ctx, st, c);
    }
    case 'stopsignal':
      c.StopSignal = ex(i.args[0] ?? '');
      return metaStep(ctx, st, c, `STOPSIGNAL ${c.StopSignal}`);
    case 'shell':
      if (!i.json) throw new BuildStepError('SHELL requires the arguments to be in JSON form');
      c.Shell = [...i.args];
      return metaStep(ctx, st, c, `SHELL ${JSON.stringify(c.Shell)}`);
    case 'onbuild': {
      const inner = i.original.trim().replace(/^onbuild\s+/i, '');
      const kw = inner.split(/\s/)[0].toUpperCase();
      if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(kw)) throw new BuildStepError(`${kw} isn't allowed as an ONBUILD trigger`);
      c.OnBuild = [...(c.OnBuild ?? []), inner];
      return metaStep(ctx, st, c, `ONBUILD ${inner}`);
    }
    case 'healthcheck':
      c.Healthcheck = healthcheck(i);
      return metaStep(ctx, st, c, `HEALTHCHECK ${JSON.stringify(c.Healthcheck)}`);
    default:
      throw new BuildStepError(`unknown instruction: ${i.keyword.toUpperCase()}`);
  }
}

/** A metadata-only step: a new image config, no layer, `#(nop)` in history. */
export async function metaStep(c: StepContext, st: StageState, config: ContainerConfig, text: string, oneSpace = false): Promise<void> {
  const nop = `#(nop) ${oneSpace ? '' : ' '}${text}`;
  const createdBy = `/bin/sh -c ${nop}`;
  const cc: ContainerConfig = { ...config, Cmd: [...DEFAULT_SHELL, nop] };
  const hit = await c.cached(st.image, cc, c.withParent(st, config));
  if (hit) return c.useCache(st, hit);
  if (st.image) config.Image = st.image.record.id;
  const img = await recordImage(c.d.images.store, {
    base: st.image, config, containerConfig: cc, author: st.author, history: { created_by: createdBy },
  }, [...(st.image?.config.rootfs.diff_ids ?? [])], true);
  c.stepDone(st, img, config);
}

/** WORKDIR: a metadata step that, as Docker's, also creates the directory (a layer) when the image lacks it. */
async function workdirStep(c: StepContext, st: StageState, config: ContainerConfig): Promise<void> {
  const wd = config.WorkingDir as string;
  const lowers = st.image ? await layerDirs(c.d.snapshots, st.image) : [];
  const resolved = resolveInLayers(lowers, wd, true);
  if (resolved === '/' || lookupInLayers(lowers, resolved)?.isDirectory()) return metaStep(c, st, config, `WORKDIR ${wd}`, true);
  const nop = `#(nop) WORKDIR ${wd}`;
  const cc: ContainerConfig = { ...config, Cmd: [...DEFAULT_SHELL, nop] };
  const hit = await c.cached(st.image, cc, c.withParent(st, config));
  if (hit) return c.useCache(st, hit);
  const layer = await c.d.images.store.layers.register(
    entriesLayer([{ dest: wd, kind: 'dir', mode: 0o755, mtimeMs: Date.now(), size: 0 }], { uid: 0, gid: 0, lowers }),
    st.image?.record.topLayer || undefined,
  );
  if (st.image) config.Image = st.image.record.id;
  const img = await recordImage(c.d.images.store, {
    base: st.image, config, containerConfig: cc, author: st.author, history: { created_by: `/bin/sh -c ${nop}` },
  }, [...(st.image?.config.rootfs.diff_ids ?? []), layer.diffId], false);
  c.stepDone(st, img, config);
}

function commandArgs(st: StageState, i: Instruction): string[] {
  if (i.json) return [...i.args];
  return [...(st.config.Shell?.length ? st.config.Shell : DEFAULT_SHELL), i.args.join(' ')];
}

function healthcheck(i: Instruction): Record<string, unknown> {
  checkFlags(i, ['interval', 'timeout', 'start-period', 'start-interval', 'retries']);
  const first = (i.args[0] ?? '').toUpperCase();
  if (first === 'NONE') {
    if (i.args.length > 1) throw new BuildStepError('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (first !== 'CMD') throw new BuildStepError(`Unknown type "${first}" in HEALTHCHECK (try CMD)`);
  const rest = i.args.slice(1);
  const hc: Record<string, unknown> = { Test: i.json ? ['CMD', ...rest] : ['CMD-SHELL', rest.join(' ')] };
  const dur = (name: string, key: string) => {
    const v = flagValue(i, name);
    if (v !== undefined) hc[key] = parseDuration(v, `--${name}`);
  };
  dur('interval', 'Interval');
  dur('timeout', 'Timeout');
  dur('start-period', 'StartPeriod');
  dur('start-interval', 'StartInterval');
  const retries = flagValue(i, 'retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw new BuildStepError(`Error parsing --retries: invalid syntax "${retries}"`);
    hc.Retries = Number(retries);
  }
  return hc;
}
