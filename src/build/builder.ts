// The build executor: a parsed Dockerfile, run stage by stage against the
// image store. Every instruction yields an image (metadata-only ones add no
// layer and a `#(nop)` history entry); RUN runs in a real container through
// the ContainerService and its overlay diff becomes the step's layer; COPY and
// ADD build their layer tar straight from the sources. A step is a cache hit when
// an image with the same parent and the same `container_config` (which names
// the step, and for COPY/ADD the checksum of the copied files) exists.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerConfig } from '../api/container.ts';
import { ignoreFileCandidates, ignoreMatcher, parseIgnoreFile, type IgnoreMatcher } from '../api/dockerignore.ts';
import { familiarString, parseNormalizedNamed, withDefaultTag } from '../api/reference.ts';
import { InvalidArgumentError, NotFoundError } from '../errors.ts';
import { recordImage } from '../images/commit.ts';
import type { Image } from '../images/store.ts';
import { overlayOptions, type Mount } from '../storage/snapshotter.ts';
import { resolveInRoot } from '../files/rootpath.ts';
import { cacheFromSource } from './cache-from.ts';
import type { BuildContext } from './context.ts';
import { BuildStepError } from './copy.ts';
import { copyStep } from './copy-step.ts';
import { checkInstruction, expandWord, parseDockerfile, type Dockerfile, type Instruction } from './dockerfile/index.ts';
import { checkFlags, envMap, flagValue, flagValues, stageRef } from './instruction-flags.ts';
import { metaInstruction, metaStep } from './meta-steps.ts';
import { runStep } from './run-step.ts';
import { StageOutput, type Lane } from './stage-output.ts';
import {
  DEFAULT_SHELL, PLATFORM_ARGS, PROXY_ARGS, short,
  type BuilderDeps, type BuildMessage, type BuildRequest, type Stage, type StageState, type StepContext,
} from './step-context.ts';

const run = promisify(execFile);

export class Builder {
  readonly d: BuilderDeps;

  constructor(deps: BuilderDeps) {
    this.d = deps;
  }

  /**
   * Runs the build in `contextDir`; messages go to `emit`. Resolves with the
   * final image ID. Errors thrown before the first message are request
   * errors; later ones are reported by the caller in the stream.
   */
  async build(context: BuildContext, req: BuildRequest, emit: (m: BuildMessage) => void, signal?: AbortSignal): Promise<string> {
    return new BuildRun(this.d, context, req, emit, signal).run();
  }
}

class BuildRun implements StepContext {
  readonly d: BuilderDeps;
  readonly ctxDir: string;
  private readonly ctxDigests?: ReadonlyMap<string, string>;
  readonly ctxMemo?: Map<string, string>;
  readonly req: BuildRequest;
  private readonly emit: (m: BuildMessage) => void;
  readonly signal?: AbortSignal;
  ignore?: IgnoreMatcher;
  readonly stages: Stage[] = [];
  private metaArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  private totalSteps = 0;
  /** Each counted instruction's step number, in Dockerfile order (stages may run in any order). */
  private readonly stepNumbers = new Map<Instruction, number>();
  private readonly results = new Map<number, Promise<Image | undefined>>();
  /** Stages running at the same time write their lines as one block each. */
  private readonly output: StageOutput;
  /** The lane of the stage whose code is running (async context). */
  private readonly currentLane = new AsyncLocalStorage<Lane>();
  /** Errors already carrying the image of their stage's last good step. */
  private readonly annotated = new WeakSet<Error>();
  readonly cleanups: Array<() => Promise<void>> = [];
  /** Removals of intermediate containers still under way. */
  readonly removals: Promise<void>[] = [];

  constructor(d: BuilderDeps, context: BuildContext, req: BuildRequest, emit: (m: BuildMessage) => void, signal?: AbortSignal) {
    this.d = d;
    this.ctxDir = context.dir;
    this.ctxDigests = context.fileDigests;
    this.ctxMemo = context.memo;
    this.req = req;
    this.emit = emit;
    this.signal = signal;
    this.output = new StageOutput((text) => this.emit({ stream: text }));
  }

  knownDigest(source: string): string | undefined {
    return this.ctxDigests?.get(source);
  }

  out(text: string): void {
    this.writer()(text);
  }

  /** Where the running stage's output goes, captured now for callbacks that run outside its async context. */
  writer(): (text: string) => void {
    const lane = this.currentLane.getStore();
    return (text) => {
      if (this.req.quiet) return;
      if (lane) this.output.text(lane, text);
      else this.emit({ stream: text });
    };
  }

  async run(): Promise<string> {
    for (const t of this.req.tags) {
      try {
        const ref = parseNormalizedNamed(t);
        if (ref.digest) throw new Error('digest');
      } catch {
        throw new InvalidArgumentError(`invalid reference format: ${t}`);
      }
    }
    if (this.req.platform && !/^linux(\/amd64)?$/.test(this.req.platform)) {
      throw new InvalidArgumentError(`"${this.req.platform}" is not a supported platform: only the host platform linux/amd64 can be built`);
    }
    const df = await this.readDockerfile();
    this.splitStages(df);
    const target = this.targetStage();
    const needed = this.neededStages(target);
    // Docker counts the ARGs before the first FROM as steps too.
    const counted = df.instructions.filter((i) => i.startLine < this.stages[0].from.startLine);
    for (const s of this.stages) if (needed.has(s.index)) counted.push(s.from, ...s.instructions);
    counted.forEach((i, n) => this.stepNumbers.set(i, n + 1));
    this.totalSteps = counted.length + (Object.keys(this.req.labels).length ? 1 : 0);
    for (const w of df.warnings) this.out(`[WARNING]: ${w}\n`);
    try {
      for (const i of df.instructions) {
        if (i.startLine >= this.stages[0].from.startLine) break;
        this.stepLine(i);
      }
      const img = await this.runStage(target, needed);
      if (!img) throw new BuildStepError('the build produced no image');
      const unused = [...this.req.buildArgs.keys()].filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k) && !(k in PLATFORM_ARGS));
      if (unused.length) this.out(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed\n`);
      this.emit({ aux: { ID: img.record.id } });
      this.out(`Successfully built ${short(img.record.id)}\n`);
      for (const t of this.req.tags) {
        await this.d.images.tag(img.record.id, t);
        this.out(`Successfully tagged ${familiarString(withDefaultTag(parseNormalizedNamed(t)))}\n`);
      }
      if (this.req.quiet) this.emit({ stream: img.record.id + '\n' });
      return img.record.id;
    } finally {
      this.output.flushAll();
      await Promise.all(this.removals);
      for (const c of this.cleanups.reverse()) await c().catch(() => {});
    }
  }

  // ---------- the Dockerfile and its stages ----------

  private async readDockerfile(): Promise<Dockerfile> {
    const name = this.req.dockerfile || 'Dockerfile';
    const rel = posix.normalize(name).replace(/^\/+/, '');
    let text: string | undefined;
    for (const candidate of rel === 'Dockerfile' ? ['Dockerfile', 'dockerfile'] : [rel]) {
      const host = resolveInRoot(this.ctxDir, candidate);
      const st = await lstat(host).catch(() => undefined);
      if (st?.isFile()) {
        text = await readFile(host, 'utf8');
        break;
      }
    }
    if (text === undefined) throw new DockerfileRequestError(`Cannot locate specified Dockerfile: ${name}`);
    for (const candidate of ignoreFileCandidates(rel)) {
      const host = resolveInRoot(this.ctxDir, candidate);
      const ig = await readFile(host, 'utf8').catch(() => undefined);
      if (ig !== undefined) {
        this.ignore = ignoreMatcher(parseIgnoreFile(ig));
        break;
      }
    }
    try {
      const df = parseDockerfile(text, name);
      for (const i of df.instructions) checkInstruction(i, name);
      return df;
    } catch (err) {
      throw new DockerfileRequestError((err as Error).message);
    }
  }

  private splitStages(df: Dockerfile): void {
    let current: Stage | undefined;
    for (const i of df.instructions) {
      if (i.keyword === 'from') {
        current = { index: this.stages.length, from: i, instructions: [] };
        if (i.args.length === 3 && i.args[1].toLowerCase() === 'as') {
          const name = i.args[2].toLowerCase();
          if (!/^[a-z][a-z0-9._-]*$/.test(name)) throw new DockerfileRequestError(`invalid name for build stage: "${i.args[2]}", name can't start with a number or contain symbols`);
          if (this.stages.some((s) => s.name === name)) throw new DockerfileRequestError(`duplicate name ${name}`);
          current.name = name;
        } else if (i.args.length !== 1) {
          throw new DockerfileRequestError(`FROM requires either one or three arguments`);
        }
        this.stages.push(current);
      } else if (!current) {
        if (i.keyword !== 'arg') throw new DockerfileRequestError(`no build stage in current context`);
        for (const a of i.args) {
          const eq = a.indexOf('=');
          const k = eq < 0 ? a : a.slice(0, eq);
          const dflt = eq < 0 ? undefined : expandWord(a.slice(eq + 1), this.metaEnv());
          this.metaArgs.set(k, this.req.buildArgs.has(k) ? this.req.buildArgs.get(k) : dflt);
          if (this.req.buildArgs.has(k)) this.usedArgs.add(k);
        }
      } else {
        current.instructions.push(i);
      }
    }
    if (this.stages.length === 0) throw new DockerfileRequestError('the Dockerfile (Dockerfile) cannot be empty');
  }

  private metaEnv(): Map<string, string> {
    const m = new Map(Object.entries(PLATFORM_ARGS));
    for (const [k, v] of this.metaArgs) if (v !== undefined) m.set(k, v);
    return m;
  }

  private targetStage(): Stage {
    if (!this.req.target) return this.stages[this.stages.length - 1];
    const t = this.stages.find((s) => s.name === this.req.target?.toLowerCase());
    if (!t) throw new DockerfileRequestError(`failed to reach build target ${this.req.target} in Dockerfile`);
    return t;
  }

  /** The stages a stage depends on: its FROM and the --from of COPY and RUN --mount. */
  private dependencies(s: Stage): Stage[] {
    const deps: Stage[] = [];
    const base = expandWord(s.from.args[0], this.metaEnv());
    const byName = this.stages.find((o) => o.name === base.toLowerCase());
    if (byName) deps.push(byName);
    for (const i of s.instructions) {
      const refs: string[] = [];
      if (i.keyword === 'copy') refs.push(...flagValues(i, 'from'));
      if (i.keyword === 'run') {
        for (const m of flagValues(i, 'mount')) {
          const from = /(?:^|,)from=([^,]+)/.exec(m);
          if (from) refs.push(from[1]);
        }
      }
      for (const r of refs) {
        const st = stageRef(this.stages, r);
        if (st) deps.push(st);
      }
    }
    return deps;
  }

  /** Stages the target needs, checking for cycles (BuildKit's wording). */
  private neededStages(target: Stage): Set<number> {
    const needed = new Set<number>();
    const visiting = new Set<number>();
    const visit = (s: Stage) => {
      if (needed.has(s.index)) return;
      if (visiting.has(s.index)) throw new DockerfileRequestError(`circular dependency detected on stage: ${s.name ?? s.index}`);
      visiting.add(s.index);
      for (const dep of this.dependencies(s)) visit(dep);
      visiting.delete(s.index);
      needed.add(s.index);
    };
    visit(target);
    return needed;
  }

  /** Builds a stage once its dependencies are built; independent stages run at the same time. */
  private runStage(s: Stage, needed: Set<number>): Promise<Image | undefined> {
    let p = this.results.get(s.index);
    if (!p) {
      p = (async () => {
        const deps = this.dependencies(s).filter((d) => needed.has(d.index));
        // Every dependency runs to its end before a failure is reported, so nothing is still running after the build.
        const settled = await Promise.allSettled(deps.map((dep) => this.runStage(dep, needed)));
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        const lane = this.output.open(s.index);
        try {
          return await this.currentLane.run(lane, () => this.buildStage(s));
        } finally {
          this.output.close(lane);
        }
      })();
      p.catch(() => {});
      this.results.set(s.index, p);
    }
    return p;
  }

  private stepLine(i: Instruction): void {
    this.out(`Step ${this.stepNumbers.get(i)}/${this.totalSteps} : ${i.original.trim()}\n`);
  }

  // ---------- one stage ----------

  private async buildStage(s: Stage): Promise<Image | undefined> {
    this.checkAborted();
    const st = await this.fromStep(s);
    try {
      for (const i of s.instructions) await this.dispatch(s, st, i);
      if (s === this.stages[this.stages.length - 1] || s.name === this.req.target?.toLowerCase()) {
        if (Object.keys(this.req.labels).length && s === this.targetStage()) {
          const line = 'LABEL ' + Object.entries(this.req.labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
          this.out(`Step ${this.totalSteps}/${this.totalSteps} : ${line}\n`);
          const labels = { ...(st.config.Labels ?? {}), ...this.req.labels };
          await metaStep(this, st, { ...st.config, Labels: labels }, line);
        }
      }
    } catch (err) {
      throw this.namingLastImage(err, st.image);
    }
    if (!st.image) {
      // FROM scratch with nothing after it: an image without layers.
      st.image = await recordImage(this.d.images.store, { config: st.config, history: { created_by: '' } }, [], true);
    }
    return st.image;
  }

  /**
   * A failed step's error, naming the image of the stage's last good step (so
   * the user can run it to debug) after Docker's own wording.
   */
  private namingLastImage(err: unknown, last: Image | undefined): unknown {
    if (!last || !(err instanceof Error) || this.annotated.has(err)) return err;
    this.annotated.add(err);
    const id = short(last.record.id);
    err.message += ` (the last successful step's image is ${id}: run it to debug, e.g. berth run --rm -it ${id} sh)`;
    return err;
  }

  private async fromStep(s: Stage): Promise<StageState> {
    this.stepLine(s.from);
    checkFlags(s.from, ['platform']);
    const platform = flagValue(s.from, 'platform');
    if (platform !== undefined) {
      const p = expandWord(platform, this.metaEnv());
      if (!/^linux(\/amd64)?$/.test(p)) throw new BuildStepError(`"${p}" is not a supported platform: only the host platform linux/amd64 can be built`);
    }
    const baseName = expandWord(s.from.args[0], this.metaEnv());
    if (baseName === '') throw new BuildStepError('base name (' + s.from.args[0] + ') should not be blank');
    const st: StageState = { config: {}, args: new Map(), cmdSet: false };
    const stage = this.stages.find((o) => o.name === baseName.toLowerCase() && o.index < s.index)
      ?? this.stages.find((o) => o.name === baseName.toLowerCase());
    let base: Image | undefined;
    if (stage) {
      base = await this.results.get(stage.index);
    } else if (baseName.toLowerCase() !== 'scratch') {
      base = await this.baseImage(baseName);
    }
    if (base) {
      st.image = base;
      st.config = structuredClone(base.config.config ?? {});
      this.out(` ---> ${short(base.record.id)}\n`);
    }
    st.config.Env ??= [];
    if (!st.config.Env.some((e) => e.startsWith('PATH='))) st.config.Env = [...st.config.Env, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
    const triggers = st.config.OnBuild ?? [];
    if (triggers.length) {
      this.out(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      st.config.OnBuild = [];
      for (const t of triggers) {
        const parsed = parseDockerfile(t, 'ONBUILD');
        for (const i of parsed.instructions) {
          if (['onbuild', 'from', 'maintainer'].includes(i.keyword)) throw new BuildStepError(`${i.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`);
          await this.dispatch(s, st, i, true);
        }
      }
    }
    return st;
  }

  /** A base image from the store, pulled when missing (or always with --pull). */
  private async baseImage(name: string): Promise<Image> {
    const local = this.d.images.store.resolve(name);
    if (local && !this.req.pull) return local;
    if (/^sha256:[a-f0-9]{64}$/.test(name) || /^[a-f0-9]{64}$/.test(name)) {
      if (local) return local;
      throw new NotFoundError(`No such image: ${name}`);
    }
    try {
      const ref = withDefaultTag(parseNormalizedNamed(name));
      const creds = this.req.registryAuth[ref.domain] ?? (ref.domain === 'docker.io' ? this.req.registryAuth['https://index.docker.io/v1/'] : undefined);
      const pull = await this.d.images.preparePull(name, { creds, signal: this.signal });
      // The pull's progress, as plain `id: status` lines in the build stream.
      await pull((m) => {
        const p = m as { id?: string; status?: string };
        if (p.status && !/^(Downloading|Extracting)$/.test(p.status)) this.out(`${p.id ? `${p.id}: ` : ''}${p.status}\n`);
      });
    } catch (err) {
      if (local) return local; // --pull of an image the registry does not have: keep the local one
      throw err;
    }
    return this.d.images.store.get(name);
  }

  stageEnv(st: StageState): Map<string, string> {
    const env = new Map<string, string>();
    for (const [k, v] of st.args) if (v !== undefined) env.set(k, v);
    for (const [k, v] of envMap(st.config.Env)) env.set(k, v);
    return env;
  }

  private checkAborted(): void {
    if (this.signal?.aborted) throw new BuildStepError('the build was cancelled');
  }

  private async dispatch(s: Stage, st: StageState, i: Instruction, trigger = false): Promise<void> {
    this.checkAborted();
    if (!trigger) this.stepLine(i);
    const env = this.stageEnv(st);
    switch (i.keyword) {
      case 'run':
        return runStep(this, st, i);
      case 'copy':
      case 'add':
        return copyStep(this, s, st, i, env);
      case 'arg':
        return this.argStep(st, i, env);
      default:
        return metaInstruction(this, st, i, env);
    }
  }

  /** ARG: the stage's build argument, from --build-arg, a global ARG of that name, or its default. */
  private argStep(st: StageState, i: Instruction, env: Map<string, string>): Promise<void> {
    const ex = (w: string) => expandWord(w, env);
    const c: ContainerConfig = structuredClone(st.config);
    const parts: string[] = [];
    for (const a of i.args) {
      const eq = a.indexOf('=');
      const k = eq < 0 ? a : a.slice(0, eq);
      let v: string | undefined = eq < 0 ? undefined : ex(a.slice(eq + 1));
      if (eq < 0 && this.metaArgs.has(k)) v = this.metaArgs.get(k);
      if (this.req.buildArgs.has(k)) {
        v = this.req.buildArgs.get(k);
        this.usedArgs.add(k);
      }
      if (k in PLATFORM_ARGS && v === undefined) v = PLATFORM_ARGS[k];
      st.args.set(k, v);
      parts.push(eq < 0 ? k : `${k}=${a.slice(eq + 1)}`);
    }
    return metaStep(this, st, c, `ARG ${parts.join(' ')}`);
  }

  // ---------- images of steps, and the cache ----------

  /**
   * An image with this parent whose step was the same, else one from a --cache-from
   * source; undefined on a miss or with --no-cache. `config` is the stage's config
   * after the step (what an image restored from a cache source carries).
   */
  async cached(parent: Image | undefined, containerConfig: ContainerConfig, config: ContainerConfig): Promise<Image | undefined> {
    if (this.req.noCache) return undefined;
    // `Image` (the grandparent's ID) adds nothing once the parent matches, and differs on an
    // image another daemon built, pulled and linked here by --cache-from: it is left out, as Docker's compare does.
    const key = (cc: ContainerConfig | undefined) => JSON.stringify(cc ? { ...cc, Image: undefined } : null);
    const want = key(containerConfig);
    const parentId = parent?.record.id;
    let best: Image | undefined;
    for (const img of this.d.images.store.list()) {
      if (img.record.parent !== parentId) continue;
      if (parentId === undefined && img.config.rootfs.diff_ids.length > 1) continue;
      if (key(img.config.container_config) !== want) continue;
      if (!best || (img.config.created ?? '') > (best.config.created ?? '')) best = img;
    }
    if (best) return best;
    for (const ref of this.req.cacheFrom) {
      const source = this.d.images.store.resolve(ref);
      const hit = source && await cacheFromSource(this.d.images.store, source, parent, containerConfig, config);
      if (hit) return hit;
    }
    return undefined;
  }

  /** A step's resulting config: `config` naming the stage's current image as its parent, as recorded images do. */
  withParent(st: StageState, config: ContainerConfig): ContainerConfig {
    return st.image ? { ...config, Image: st.image.record.id } : { ...config };
  }

  useCache(st: StageState, hit: Image): void {
    st.image = hit;
    st.config = structuredClone(hit.config.config ?? {});
    this.out(` ---> Using cache\n ---> ${short(hit.record.id)}\n`);
  }

  stepDone(st: StageState, img: Image, config: ContainerConfig): void {
    st.image = img;
    st.config = structuredClone(config);
    this.out(` ---> ${short(img.record.id)}\n`);
  }

  shellOf(st: StageState): string[] {
    return st.config.Shell?.length ? st.config.Shell : DEFAULT_SHELL;
  }

  /** The root filesystem of a stage or image, readable at `dir` until `release`. */
  async imageRoot(ref: string): Promise<{ dir: string; image: Image; release: () => Promise<void> }> {
    const stage = stageRef(this.stages, ref);
    let img: Image | undefined;
    if (stage) {
      img = await this.results.get(stage.index);
      if (!img) throw new BuildStepError(`invalid from flag value ${ref}: stage not built`);
    } else {
      try {
        img = await this.baseImage(ref);
      } catch (err) {
        throw new BuildStepError(`invalid from flag value ${ref}: ${(err as Error).message}`);
      }
    }
    const image = img;
    if (!image.record.topLayer) {
      await mkdir(this.d.tmpRoot, { recursive: true, mode: 0o700 });
      const dir = await mkdtemp(join(this.d.tmpRoot, 'empty-'));
      return { dir, image, release: () => rm(dir, { recursive: true, force: true }) };
    }
    const key = `build-view-${randomBytes(8).toString('hex')}`;
    const mounts = await this.d.snapshots.view(key, image.record.topLayer);
    const { dir, unmount } = await this.mountAt(mounts[0], 'view-');
    return {
      dir,
      image,
      release: async () => {
        await unmount();
        await this.d.snapshots.remove(key).catch(() => {});
      },
    };
  }

  /** Mounts a snapshot mount (a bind is just its source) at a fresh directory. */
  private async mountAt(m: Mount, prefix: string): Promise<{ dir: string; unmount: () => Promise<void> }> {
    if (m.type === 'bind') return { dir: m.source, unmount: async () => {} };
    await mkdir(this.d.tmpRoot, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(this.d.tmpRoot, prefix));
    await run('mount', ['-t', 'overlay', 'overlay', '-o', overlayOptions(m), dir]);
    return {
      dir,
      unmount: async () => {
        await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
        await rm(dir, { recursive: true, force: true });
      },
    };
  }


}

/** Errors in the Dockerfile or the request, raised before any step runs. */
export class DockerfileRequestError extends InvalidArgumentError {}
