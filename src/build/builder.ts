// The build executor: a parsed Dockerfile, run stage by stage against the
// image store. Every instruction yields an image (metadata-only ones add no
// layer and a `#(nop)` history entry); RUN runs in a real container through
// the ContainerService and its overlay diff becomes the step's layer; COPY and
// ADD build their layer tar straight from the sources. A step is a cache hit when
// an image with the same parent and the same `container_config` (which names
// the step, and for COPY/ADD the checksum of the copied files) exists.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { promisify } from 'node:util';
import { BadRequestError, EngineError, NotFoundError } from '../daemon/api/errors.ts';
import type { ContainerService } from '../containers/service.ts';
import type { ImageService } from '../images/service.ts';
import type { Image } from '../images/store.ts';
import type { ContainerConfig } from '../images/types.ts';
import { createImage, recordImage } from '../images/commit.ts';
import { cacheFromSource } from './cache-from.ts';
import { parseNormalizedNamed, familiarString, withDefaultTag } from '../images/reference.ts';
import type { OciMount } from '../runtime/spec.ts';
import type { ExitStatus } from '../runtime/shim.ts';
import { resolveUser } from '../runtime/user.ts';
import type { Mount, Snapshotter } from '../storage/snapshotter.ts';
import { overlayOptions } from '../storage/snapshotter.ts';
import { resolveInRoot } from '../storage/rootpath.ts';
import {
  checkInstruction, parseDockerfile, expandWord, expandWords, type Dockerfile, type Instruction,
} from './dockerfile/index.ts';
import {
  BuildStepError, checksumEntries, entriesLayer, isArchiveFile, lookupInLayers, planCopy, resolveInLayers, type CopyEntry, type PlanInput, type SourceRoot,
} from './copy.ts';
import { ignoreFileCandidates, ignoreMatcher, parseIgnoreFile, type IgnoreMatcher } from './ignore.ts';
import { parseRunMount, type RunMount } from './run-mount.ts';
import type { BuildContext } from './context.ts';
import { checkoutGit, GitError, GitSubdirError, isGitSource, parseGitRef, resolveCommit, type GitCheckout, type GitRef } from './git-remote.ts';
import type { LayerInfo } from '../images/layers.ts';
import { StageOutput, type Lane } from './stage-output.ts';

const run = promisify(execFile);

export interface BuildRequest {
  dockerfile: string;
  tags: string[];
  buildArgs: Map<string, string | undefined>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  /** Remove intermediate containers after a successful step. */
  rm: boolean;
  /** Remove them after a failed one too. */
  forceRm: boolean;
  quiet: boolean;
  networkMode: string;
  extraHosts: string[];
  platform?: string;
  cacheFrom: string[];
  /** Secret id → host file (RUN --mount=type=secret). */
  secrets: Map<string, string>;
  /** Registry credentials (X-Registry-Config) by registry host, for pulls of base images. */
  registryAuth: Record<string, { username?: string; password?: string; auth?: string; identitytoken?: string }>;
}

/** A message of the build stream, as dockerd writes them. */
export type BuildMessage =
  | { stream: string }
  | { aux: { ID: string } }
  | { errorDetail: { code?: number; message: string }; error: string }
  | Record<string, unknown>;

export interface BuilderDeps {
  images: ImageService;
  containers: ContainerService;
  snapshots: Snapshotter;
  /** Scratch space for downloads and mounts. */
  tmpRoot: string;
  /** Persistent RUN --mount=type=cache directories. */
  cacheRoot: string;
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

/** A step that failed after some succeeded: the last good image is named so it can be run to debug. */
export class StepFailedError extends EngineError {
  readonly code: number;
  constructor(message: string, code: number) {
    super(500, message);
    this.code = code;
  }
}

const DEFAULT_SHELL = ['/bin/sh', '-c'];
const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
const PLATFORM_ARGS: Record<string, string> = {
  TARGETPLATFORM: 'linux/amd64', TARGETOS: 'linux', TARGETARCH: 'amd64', TARGETVARIANT: '',
  BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '',
};

interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  instructions: Instruction[];
}

/** What a stage has built so far. */
interface StageState {
  image?: Image;
  config: ContainerConfig;
  /** Declared ARGs and their values, in declaration order. */
  args: Map<string, string | undefined>;
  /** CMD was set in this stage (so ENTRYPOINT does not reset it). */
  cmdSet: boolean;
  author?: string;
}

const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

function envMap(env: string[] | null | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) m.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return m;
}

function setEnv(env: string[] | null | undefined, key: string, value: string): string[] {
  const out = (env ?? []).filter((e) => !e.startsWith(key + '='));
  out.push(`${key}=${value}`);
  return out;
}

/** Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
function parseDuration(s: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== s.length || s === '') throw new BuildStepError(`Error parsing ${flag}: time: invalid duration "${s}"`);
  return Math.round(total);
}

function flagValue(i: Instruction, name: string): string | undefined {
  let v: string | undefined;
  for (const f of i.flags) {
    if (f === `--${name}`) v = 'true';
    else if (f.startsWith(`--${name}=`)) v = f.slice(name.length + 3);
  }
  return v;
}

function flagValues(i: Instruction, name: string): string[] {
  return i.flags.filter((f) => f.startsWith(`--${name}=`)).map((f) => f.slice(name.length + 3));
}

/** A boolean flag (`--link`, `--link=false`), parsed as Go's strconv.ParseBool, as BuildKit does. */
function boolFlag(i: Instruction, name: string): boolean {
  const v = flagValue(i, name);
  if (v === undefined) return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new BuildStepError(`invalid value for --${name}: ${v}`);
}

/** A git failure of ADD, worded for the build output. */
function gitStepError(g: GitRef, err: unknown): Error {
  if (err instanceof GitSubdirError) return new BuildStepError(`ADD failed: subdirectory ${g.subdir} of ${g.url} does not exist`);
  if (err instanceof GitError) return new BuildStepError(`ADD failed: unable to fetch git repository ${g.url}: ${err.message}`);
  return err instanceof Error ? err : new Error(String(err));
}

function checkFlags(i: Instruction, allowed: string[]): void {
  for (const f of i.flags) {
    const name = f.replace(/^--/, '').split('=')[0];
    if (!allowed.includes(name)) throw new BuildStepError(`Unknown flag: ${name}`);
  }
}

/** The stage a `--from` names: a stage name, a stage index, or (undefined) an image. */
function stageRef(stages: Stage[], ref: string): Stage | undefined {
  const lower = ref.toLowerCase();
  const byName = stages.find((s) => s.name === lower);
  if (byName) return byName;
  if (/^\d+$/.test(ref)) {
    const s = stages[Number(ref)];
    if (!s) throw new BuildStepError(`invalid from flag value ${ref}: index out of bounds`);
    return s;
  }
  return undefined;
}

export class Builder {
  private readonly d: BuilderDeps;

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

class BuildRun {
  private readonly d: BuilderDeps;
  private readonly ctxDir: string;
  private readonly ctxDigests?: ReadonlyMap<string, string>;
  private readonly ctxMemo?: Map<string, string>;
  private readonly req: BuildRequest;
  private readonly emit: (m: BuildMessage) => void;
  private readonly signal?: AbortSignal;
  private ignore?: IgnoreMatcher;
  private stages: Stage[] = [];
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
  private readonly cleanups: Array<() => Promise<void>> = [];
  /** Removals of intermediate containers still under way. */
  private readonly removals: Promise<void>[] = [];

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

  private out(text: string): void {
    this.writer()(text);
  }

  /** Where the running stage's output goes, captured now for callbacks that run outside its async context. */
  private writer(): (text: string) => void {
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
        throw new BadRequestError(`invalid reference format: ${t}`);
      }
    }
    if (this.req.platform && !/^linux(\/amd64)?$/.test(this.req.platform)) {
      throw new BadRequestError(`"${this.req.platform}" is not a supported platform: only the host platform linux/amd64 can be built`);
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
          await this.metaStep(st, { ...st.config, Labels: labels }, line);
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

  private stageEnv(st: StageState): Map<string, string> {
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
    const ex = (w: string) => expandWord(w, env);
    const c: ContainerConfig = structuredClone(st.config);
    switch (i.keyword) {
      case 'run':
        return this.runStep(st, i);
      case 'copy':
      case 'add':
        return this.copyStep(s, st, i, env);
      case 'cmd': {
        checkFlags(i, []);
        c.Cmd = this.commandArgs(st, i);
        st.cmdSet = true;
        return this.metaStep(st, c, `CMD ${JSON.stringify(c.Cmd)}`);
      }
      case 'entrypoint': {
        checkFlags(i, []);
        c.Entrypoint = this.commandArgs(st, i);
        if (!st.cmdSet) c.Cmd = null;
        return this.metaStep(st, c, `ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`);
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
        return this.metaStep(st, c, `ENV ${parts.join(' ')}`);
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
        return this.metaStep(st, c, `LABEL ${parts.join(' ')}`);
      }
      case 'maintainer':
        st.author = i.args.join(' ');
        return this.metaStep(st, c, `MAINTAINER ${st.author}`);
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
        return this.metaStep(st, c, `EXPOSE ${ports.join(' ')}`);
      }
      case 'volume': {
        c.Volumes = { ...(c.Volumes ?? {}) };
        const vols = (i.json ? i.args.map(ex) : i.args.flatMap((a) => expandWords(a, env))).filter((v) => v.trim() !== '');
        if (vols.length === 0) throw new BuildStepError('VOLUME specified can not be an empty string');
        for (const v of vols) c.Volumes[v] = {};
        return this.metaStep(st, c, `VOLUME ${JSON.stringify(vols)}`);
      }
      case 'user':
        c.User = ex(i.args[0] ?? '');
        return this.metaStep(st, c, `USER ${c.User}`);
      case 'workdir': {
        const dir = ex(i.args[0] ?? '');
        c.WorkingDir = posix.resolve(st.config.WorkingDir || '/', dir);
        return this.workdirStep(st, c);
      }
      case 'stopsignal':
        c.StopSignal = ex(i.args[0] ?? '');
        return this.metaStep(st, c, `STOPSIGNAL ${c.StopSignal}`);
      case 'shell':
        if (!i.json) throw new BuildStepError('SHELL requires the arguments to be in JSON form');
        c.Shell = [...i.args];
        return this.metaStep(st, c, `SHELL ${JSON.stringify(c.Shell)}`);
      case 'onbuild': {
        const inner = i.original.trim().replace(/^onbuild\s+/i, '');
        const kw = inner.split(/\s/)[0].toUpperCase();
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(kw)) throw new BuildStepError(`${kw} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), inner];
        return this.metaStep(st, c, `ONBUILD ${inner}`);
      }
      case 'healthcheck':
        c.Healthcheck = this.healthcheck(i);
        return this.metaStep(st, c, `HEALTHCHECK ${JSON.stringify(c.Healthcheck)}`);
      case 'arg': {
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
        return this.metaStep(st, c, `ARG ${parts.join(' ')}`);
      }
      default:
        throw new BuildStepError(`unknown instruction: ${i.keyword.toUpperCase()}`);
    }
  }

  private commandArgs(st: StageState, i: Instruction): string[] {
    if (i.json) return [...i.args];
    return [...(st.config.Shell?.length ? st.config.Shell : DEFAULT_SHELL), i.args.join(' ')];
  }

  private healthcheck(i: Instruction): Record<string, unknown> {
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

  // ---------- images of steps, and the cache ----------

  /**
   * An image with this parent whose step was the same, else one from a --cache-from
   * source; undefined on a miss or with --no-cache. `config` is the stage's config
   * after the step (what an image restored from a cache source carries).
   */
  private async cached(parent: Image | undefined, containerConfig: ContainerConfig, config: ContainerConfig): Promise<Image | undefined> {
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
  private withParent(st: StageState, config: ContainerConfig): ContainerConfig {
    return st.image ? { ...config, Image: st.image.record.id } : { ...config };
  }

  private useCache(st: StageState, hit: Image): void {
    st.image = hit;
    st.config = structuredClone(hit.config.config ?? {});
    this.out(` ---> Using cache\n ---> ${short(hit.record.id)}\n`);
  }

  private stepDone(st: StageState, img: Image, config: ContainerConfig): void {
    st.image = img;
    st.config = structuredClone(config);
    this.out(` ---> ${short(img.record.id)}\n`);
  }

  private shellOf(st: StageState): string[] {
    return st.config.Shell?.length ? st.config.Shell : DEFAULT_SHELL;
  }

  /** A metadata-only step: a new image config, no layer, `#(nop)` in history. */
  private async metaStep(st: StageState, config: ContainerConfig, text: string, oneSpace = false): Promise<void> {
    const nop = `#(nop) ${oneSpace ? '' : ' '}${text}`;
    const createdBy = `/bin/sh -c ${nop}`;
    const cc: ContainerConfig = { ...config, Cmd: [...DEFAULT_SHELL, nop] };
    const hit = await this.cached(st.image, cc, this.withParent(st, config));
    if (hit) return this.useCache(st, hit);
    if (st.image) config.Image = st.image.record.id;
    const img = await recordImage(this.d.images.store, {
      base: st.image, config, containerConfig: cc, author: st.author, history: { created_by: createdBy },
    }, [...(st.image?.config.rootfs.diff_ids ?? [])], true);
    this.stepDone(st, img, config);
  }

  /** WORKDIR: a metadata step that, as Docker's, also creates the directory (a layer) when the image lacks it. */
  private async workdirStep(st: StageState, config: ContainerConfig): Promise<void> {
    const wd = config.WorkingDir as string;
    const lowers = st.image ? await this.layerDirs(st.image) : [];
    const resolved = resolveInLayers(lowers, wd, true);
    if (resolved === '/' || lookupInLayers(lowers, resolved)?.isDirectory()) return this.metaStep(st, config, `WORKDIR ${wd}`, true);
    const nop = `#(nop) WORKDIR ${wd}`;
    const cc: ContainerConfig = { ...config, Cmd: [...DEFAULT_SHELL, nop] };
    const hit = await this.cached(st.image, cc, this.withParent(st, config));
    if (hit) return this.useCache(st, hit);
    const layer = await this.d.images.store.layers.register(
      entriesLayer([{ dest: wd, kind: 'dir', mode: 0o755, mtimeMs: Date.now(), size: 0 }], { uid: 0, gid: 0, lowers }),
      st.image?.record.topLayer || undefined,
    );
    if (st.image) config.Image = st.image.record.id;
    const img = await recordImage(this.d.images.store, {
      base: st.image, config, containerConfig: cc, author: st.author, history: { created_by: `/bin/sh -c ${nop}` },
    }, [...(st.image?.config.rootfs.diff_ids ?? []), layer.diffId], false);
    this.stepDone(st, img, config);
  }

  // ---------- RUN ----------

  /** Build args visible to RUN: declared ones with a value, not shadowed by ENV. */
  /** A context file's sha256 as the unpack saw it (the context is never changed in place). */
  private readonly knownDigest = (source: string): string | undefined => this.ctxDigests?.get(source);

  private runArgs(st: StageState): string[] {
    const env = envMap(st.config.Env);
    const out: string[] = [];
    for (const [k, v] of st.args) if (v !== undefined && !env.has(k)) out.push(`${k}=${v}`);
    for (const k of PROXY_ARGS) {
      const v = this.req.buildArgs.get(k);
      if (v !== undefined && !st.args.has(k)) out.push(`${k}=${v}`);
    }
    return out;
  }

  private async runStep(st: StageState, i: Instruction): Promise<void> {
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
      argv = [...this.shellOf(st), script];
    }
    const network = flagValue(i, 'network') ?? 'default';
    if (!['none', 'default', 'host'].includes(network)) throw new BuildStepError(`unsupported network mode: ${network}`);
    const security = flagValue(i, 'security');
    if (security !== undefined && security !== 'sandbox') throw new BuildStepError(`security mode ${security} is not supported`);
    const env = this.stageEnv(st);
    const mounts = flagValues(i, 'mount').map((m) => parseRunMount(expandWord(m, env), st.config.WorkingDir || '/'));
    const args = this.runArgs(st).sort();
    const createdBy = [...(args.length ? [`|${args.length}`, ...args] : []), ...argv].join(' ');
    // Secrets and cache contents never reach the key: only which mounts there were.
    const mountKey = mounts.map((m) => `${m.type}:${m.target}:${m.from ?? ''}:${m.source ?? ''}:${m.id ?? ''}`);
    const cc: ContainerConfig = { ...st.config, Cmd: args.length ? [`|${args.length}`, ...args, ...argv] : argv };
    if (mountKey.length) cc.Labels = { ...(cc.Labels ?? {}), 'berth.build.mounts': mountKey.join(';') };
    if (network !== 'default') cc.NetworkDisabled = network === 'none';
    // A bind mount of the context changes what the step sees: its files are part of the key.
    for (const m of mounts) {
      if (m.type === 'bind' && m.from === undefined) {
        const entries = await planCopy(this.copyPlanFor({ dir: this.ctxDir, ignore: this.ignore, isContext: true }, [m.source ?? '.'], '/', true, 'COPY'));
        cc.Labels = { ...(cc.Labels ?? {}), [`berth.build.bind.${m.target}`]: await checksumEntries(entries, '', this.knownDigest) };
      }
    }
    const hit = await this.cached(st.image, cc, this.withParent(st, st.config));
    if (hit) return this.useCache(st, hit);

    const base = st.image;
    if (!base) {
      throw new BuildStepError('RUN in a stage FROM scratch has no shell to run (COPY one in first)');
    }
    const netMode = network === 'none' ? 'none' : network === 'host' ? 'host' : this.req.networkMode;
    const { Id: cid } = await this.d.containers.create(undefined, {
      Image: base.record.id,
      Cmd: argv,
      Entrypoint: [''],
      Env: [...(st.config.Env ?? []), ...args],
      WorkingDir: st.config.WorkingDir || '',
      User: st.config.User || '',
      Labels: {},
      HostConfig: { NetworkMode: netMode, ExtraHosts: this.req.extraHosts, LogConfig: { Type: 'none', Config: {} } },
    });
    this.out(` ---> Running in ${short(cid)}\n`);
    let ok = false;
    let removed = false;
    // Set once started: the exit after the runtime's cleanup, which a removal waits for.
    let cleanedUp: Promise<unknown> | undefined;
    const removeContainer = async () => {
      if (removed) return;
      removed = true;
      await cleanedUp?.catch(() => {});
      await this.d.containers.remove(cid, { force: true }).catch(() => {});
    };
    this.cleanups.push(async () => {
      if (ok ? this.req.rm : this.req.forceRm) await removeContainer();
    });
    const mountCleanup = await this.prepareMounts(cid, base, mounts);
    try {
      const live = this.d.containers.output(cid);
      const write = this.writer();
      const onOut = (b: Buffer) => write(b.toString('utf8'));
      live.on('stdout', onOut);
      live.on('stderr', onOut);
      const exited = this.d.containers.wait(cid, 'next-exit', this.signal);
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
        await this.d.containers.start(cid);
        code = await Promise.race([gone, exited.then((r) => r.StatusCode)]);
      } finally {
        live.off('stdout', onOut);
        live.off('stderr', onOut);
        if (onExited) live.off('exited', onExited);
      }
      if (code !== 0) {
        throw new StepFailedError(`The command '${createdBy}' returned a non-zero code: ${code}`, code);
      }
      await this.removeMountPoints(cid, base, mounts);
      const config: ContainerConfig = { ...st.config, Image: base.record.id };
      const img = await createImage(this.d.images.store, this.d.snapshots, {
        base, config, containerConfig: cc, container: cid, author: st.author, history: { created_by: createdBy },
      }, cid);
      ok = true;
      if (this.req.rm) {
        // Removed, once cleaned up, while the next step runs; the build waits for every removal before it ends.
        this.removals.push(removeContainer());
        this.out(` ---> Removed intermediate container ${short(cid)}\n`);
      }
      this.stepDone(st, img, config);
    } finally {
      await mountCleanup();
      // A cancelled build (the client went away) kills and removes its step's container, as dockerd does.
      if (!ok && (this.req.forceRm || this.signal?.aborted)) await removeContainer();
    }
  }

  /** Host side of RUN --mount: cache dirs, context or stage binds, secrets, tmpfs. */
  private async prepareMounts(cid: string, _base: Image, mounts: RunMount[]): Promise<() => Promise<void>> {
    const oci: OciMount[] = [];
    const undo: Array<() => Promise<void>> = [];
    try {
      for (const m of mounts) {
        const ro = m.readonly ? ['ro'] : ['rw'];
        if (m.type === 'tmpfs') {
          oci.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])] });
        } else if (m.type === 'cache') {
          const id = m.id ?? m.target;
          const dir = join(this.d.cacheRoot, createHash('sha256').update(id).digest('hex').slice(0, 32));
          await mkdir(dir, { recursive: true, mode: m.mode ?? 0o755 });
          oci.push({ destination: m.target, type: 'bind', source: dir, options: ['rbind', ...ro] });
        } else if (m.type === 'secret') {
          const id = m.id ?? posix.basename(m.target);
          const src = this.req.secrets.get(id);
          if (!src) {
            if (m.required) throw new BuildStepError(`secret ${id}: not found`);
            continue;
          }
          oci.push({ destination: m.target, type: 'bind', source: src, options: ['rbind', 'ro'] });
        } else if (m.type === 'bind') {
          let root = this.ctxDir;
          if (m.from !== undefined) {
            const { dir, release } = await this.imageRoot(m.from);
            undo.push(release);
            root = dir;
          }
          const src = resolveInRoot(root, m.source ?? '/');
          if (!m.rw) {
            oci.push({ destination: m.target, type: 'bind', source: src, options: ['rbind', 'ro'] });
          } else {
            // As BuildKit, what a step writes to a rw bind is discarded: the source (the context, whose
            // files COPY may have linked into layers, or a committed layer) is never written to.
            const scratch = await mkdtemp(join(this.d.tmpRoot, 'rw-bind-'));
            undo.push(() => rm(scratch, { recursive: true, force: true }));
            oci.push(await writableCopyMount(src, m.target, scratch));
          }
        }
      }
    } catch (err) {
      for (const u of undo) await u().catch(() => {});
      throw err;
    }
    this.d.containers.setExtraMounts(cid, oci);
    return async () => {
      for (const u of undo) await u().catch(() => {});
    };
  }

  /**
   * Mount points runc made for RUN --mount targets and /etc files that the
   * image did not have: they belong to the step's sandbox, not its layer (a
   * secret must not leave even an empty file behind).
   */
  private async removeMountPoints(cid: string, base: Image, mounts: RunMount[]): Promise<void> {
    const upper = await this.d.snapshots.dir(cid);
    const lowers = await this.layerDirs(base);
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

  /** Directories of an image's layers, top first. */
  private async layerDirs(img: Image): Promise<string[]> {
    const dirs: string[] = [];
    for (let key: string | undefined = img.record.topLayer || undefined; key; key = (await this.d.snapshots.stat(key)).parent) {
      dirs.push(await this.d.snapshots.dir(key));
    }
    return dirs;
  }

  // ---------- COPY / ADD ----------

  private copyPlanFor(root: SourceRoot, sources: string[], dest: string, destIsDir: boolean, instruction: 'COPY' | 'ADD', lowers: string[] = []): PlanInput {
    return {
      root,
      sources,
      dest,
      destIsDir,
      instruction,
      extractArchives: instruction === 'ADD' && root.isContext,
      isDirInImage: async (p: string) => {
        for (const dir of lowers) {
          const s = await lstat(resolveInRoot(dir, p)).catch(() => undefined);
          if (s) return s.isDirectory();
        }
        return false;
      },
    };
  }

  /** The root filesystem of a stage or image, readable at `dir` until `release`. */
  private async imageRoot(ref: string): Promise<{ dir: string; image: Image; release: () => Promise<void> }> {
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

  private async copyStep(s: Stage, st: StageState, i: Instruction, env: Map<string, string>): Promise<void> {
    const kw = i.keyword === 'add' ? 'ADD' : 'COPY';
    checkFlags(i, kw === 'ADD' ? ['chown', 'chmod', 'checksum', 'link', 'exclude', 'unpack', 'keep-git-dir'] : ['from', 'chown', 'chmod', 'link', 'exclude', 'parents']);
    const link = boolFlag(i, 'link');
    const parents = boolFlag(i, 'parents');
    const keepGitDir = boolFlag(i, 'keep-git-dir');
    const excludes = flagValues(i, 'exclude').map((x) => expandWord(x, env));
    const unpackRaw = flagValue(i, 'unpack');
    if (unpackRaw !== undefined && !['true', 'false', '1', '0'].includes(unpackRaw)) throw new BuildStepError(`invalid value for --unpack: ${unpackRaw}`);
    const unpack = unpackRaw === undefined ? undefined : unpackRaw === 'true' || unpackRaw === '1';
    if (i.args.length < 2) throw new BuildStepError(`${kw} requires at least two arguments, but only one was provided. Destination could not be determined`);
    const ex = (w: string) => expandWord(w, env);
    const chown = flagValue(i, 'chown') !== undefined ? ex(flagValue(i, 'chown') as string) : undefined;
    const chmodRaw = flagValue(i, 'chmod');
    let chmod: number | undefined;
    if (chmodRaw !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmodRaw)) throw new BuildStepError(`invalid chmod parameter ${chmodRaw}`);
      chmod = parseInt(chmodRaw, 8);
    }
    const checksum = flagValue(i, 'checksum');
    const from = flagValue(i, 'from') !== undefined ? ex(flagValue(i, 'from') as string) : undefined;
    if (from !== undefined) {
      const ref = stageRef(this.stages, from);
      if (ref && ref.index >= s.index) throw new BuildStepError(`invalid from flag value ${from}: refers to current or later build stage`);
    }
    const rawDest = ex(i.args[i.args.length - 1]);
    const destIsDir = rawDest.endsWith('/') || rawDest === '.' || rawDest.endsWith('/.') || parents;
    const dest = posix.resolve(st.config.WorkingDir || '/', rawDest);
    const lowers = st.image ? await this.layerDirs(st.image) : [];
    // --link makes the layer as if onto an empty filesystem: the destination is not
    // resolved through the image's symlinks, nor do its directories' attributes carry over.
    const destLowers = link ? [] : lowers;

    const rawSources = i.args.slice(0, -1);
    const heredocNames = new Set(i.heredocs.map((h) => h.name));
    const entries: CopyEntry[] = [];
    const local: string[] = [];
    const urls: string[] = [];
    const gits: GitRef[] = [];
    for (const raw of rawSources) {
      const hd = /^<<-?(["']?)([A-Za-z0-9_]+)\1$/.exec(raw);
      if (hd && heredocNames.has(hd[2])) {
        const h = i.heredocs.find((x) => x.name === hd[2]);
        const content = h?.expand ? expandHeredoc(h.content, env) : (h?.content ?? '');
        const target = destIsDir || rawSources.length > 1 ? posix.join(dest, hd[2]) : dest;
        entries.push({ dest: target, kind: 'file', mode: 0o644, mtimeMs: Date.now(), data: Buffer.from(content), size: content.length });
        continue;
      }
      const src = ex(raw);
      if (isGitSource(src)) {
        if (kw === 'COPY') throw new BuildStepError('source can\'t be a git ref for COPY');
        const g = parseGitRef(src);
        if (!g) throw new BuildStepError(`invalid git URL: ${src}`);
        gits.push(g);
      } else if (/^https?:\/\//.test(src)) {
        if (kw === 'COPY') throw new BuildStepError('source can\'t be a URL for COPY');
        urls.push(src);
      } else {
        local.push(src);
      }
    }
    if (checksum !== undefined && (urls.length + gits.length !== 1 || local.length)) throw new BuildStepError('checksum can\'t be specified for non-HTTP(S) sources');
    if (urls.length + local.length + gits.length + entries.length > 1 && !destIsDir) {
      throw new BuildStepError(`When using ${kw} with more than one source file, the destination must be a directory and end with a /`);
    }
    const gitOnly = gits.length > 0 && urls.length + local.length + entries.length === 0;
    for (const url of urls) {
      const e = await this.download(url, dest, destIsDir || (await this.copyPlanFor({ dir: '/', isContext: false }, [], dest, false, kw, destLowers).isDirInImage(dest)), checksum);
      // --unpack=true: a downloaded archive is unpacked into the destination (never by default).
      entries.push(unpack === true && (await isArchiveFile(e.source as string)) ? { ...e, kind: 'archive', dest } : e);
    }

    let release: (() => Promise<void>) | undefined;
    const checkouts: GitCheckout[] = [];
    try {
      // The same context (kept by digest, never changed) gives the same plan: its checksum is remembered with it.
      const memoKey = this.ctxMemo && from === undefined && urls.length + gits.length + entries.length === 0
        ? JSON.stringify([this.req.dockerfile, st.image?.record.id ?? '', kw, local, dest, destIsDir || rawSources.length > 1, unpack ?? null, excludes, parents, link, chown ?? null, chmodRaw ?? null])
        : undefined;
      const remembered = memoKey === undefined ? undefined : this.ctxMemo?.get(memoKey);
      if (remembered !== undefined) {
        const hit = await this.cached(st.image, { ...st.config, Cmd: [...DEFAULT_SHELL, remembered] }, this.withParent(st, st.config));
        if (hit) return this.useCache(st, hit);
      }
      if (local.length) {
        let root: SourceRoot = { dir: this.ctxDir, ignore: this.ignore, isContext: true };
        if (from !== undefined) {
          const r = await this.imageRoot(from);
          release = r.release;
          root = { dir: r.dir, isContext: false };
        }
        const planInput = this.copyPlanFor(root, local, dest, destIsDir || rawSources.length > 1, kw, destLowers);
        if (unpack !== undefined) planInput.extractArchives = kw === 'ADD' && unpack;
        if (excludes.length) planInput.exclude = ignoreMatcher(excludes.map((x) => posix.normalize(x).replace(/^\/+/, '')));
        planInput.parents = parents;
        entries.push(...(await planCopy(planInput)));
      }
      // A git source is keyed by the commit its ref names now: a cache hit needs no clone.
      const resolved: Array<{ g: GitRef; commit: string; checkout?: GitCheckout }> = [];
      for (const g of gits) {
        let commit = await resolveCommit(g).catch((err: unknown) => {
          throw gitStepError(g, err);
        });
        let checkout: GitCheckout | undefined;
        if (!commit) {
          // Not a ref the remote advertises (an abbreviated commit?): only a fetch tells.
          checkout = await this.checkoutSource(g, keepGitDir);
          checkouts.push(checkout);
          commit = checkout.commit;
        }
        if (checksum !== undefined && !commit.startsWith(checksum)) throw new BuildStepError(`expected checksum to match ${checksum}, got ${commit}`);
        resolved.push({ g, commit, checkout });
      }
      let owner = { uid: 0, gid: 0 };
      if (chown) {
        // A user without a group gets the user's ID as group ID, as Docker's.
        const u = resolveUser(lowers, chown);
        owner = { uid: u.uid, gid: chown.includes(':') ? u.gid : u.uid };
      }
      // A --link step is looked up whatever its parent, so its key holds the owner's IDs, not a name.
      const extra = link ? `${owner.uid}:${owner.gid}:${chown !== undefined}:${chmodRaw ?? ''}` : `${chown ?? ''}:${chmodRaw ?? ''}`;
      const gitKeys = resolved.map((r) => `${r.g.url}#${r.commit}:${r.g.subdir}:${keepGitDir}`);
      const sum = await checksumEntries(entries, [extra, ...gitKeys].join('\0'), this.knownDigest);
      const kind = gitOnly ? 'git' : entries.length === 1 ? (entries[0].kind === 'dir' ? 'dir' : 'file') : (local.length === 1 && entries[0]?.kind === 'dir' ? 'dir' : 'multi');
      const nop = `#(nop) ${kw} ${link ? '--link ' : ''}${kind}:${sum} in ${rawDest.startsWith('/') ? rawDest : dest + (destIsDir ? '/' : '')} `;
      if (memoKey !== undefined) this.ctxMemo?.set(memoKey, nop);
      const cc: ContainerConfig = { ...st.config, Cmd: [...DEFAULT_SHELL, nop] };
      const hit = await this.cached(st.image, cc, this.withParent(st, st.config));
      if (hit) return this.useCache(st, hit);
      const config: ContainerConfig = { ...st.config };
      if (st.image) config.Image = st.image.record.id;
      const record = (diffId: string) => recordImage(this.d.images.store, {
        base: st.image, config, containerConfig: cc, author: st.author, history: { created_by: `/bin/sh -c ${nop}` },
      }, [...(st.image?.config.rootfs.diff_ids ?? []), diffId], false);
      const linked = link ? await this.linkedLayer(st.image, cc) : undefined;
      if (linked) {
        this.out(' ---> Using cache\n');
        return this.stepDone(st, await record(linked.diffId), config);
      }
      for (const r of resolved) {
        let c = r.checkout;
        if (!c) {
          c = await this.checkoutSource(r.g, keepGitDir);
          checkouts.push(c);
        }
        if (c.commit !== r.commit) throw new BuildStepError(`${r.g.url}: ${r.g.ref || 'HEAD'} moved from ${r.commit} to ${c.commit} while it was fetched`);
        const files = await planCopy(this.copyPlanFor({ dir: c.dir, isContext: false }, ['/'], dest, true, kw, destLowers));
        // As BuildKit's: files 0644, or 0755 when executable; directories 0755.
        for (const e of files) if (e.kind === 'dir' || e.kind === 'file') e.mode = e.kind === 'dir' || e.mode & 0o111 ? 0o755 : 0o644;
        entries.push(...files);
      }
      // Context files (and git checkouts) are never changed in place (a rw bind writes to an overlay): the layer may link them.
      const contextFiles = from === undefined ? new Map<string, string>() : undefined;
      const layer = await this.d.images.store.layers.register(
        entriesLayer(entries, { ...owner, chmod, chown: chown !== undefined, lowers: destLowers, contextFiles }), st.image?.record.topLayer || undefined,
        { linkFrom: contextFiles && ((p) => {
          const path = contextFiles.get(p);
          return path === undefined ? undefined : { path, sameContent: true };
        }) },
      );
      this.stepDone(st, await record(layer.diffId), config);
    } finally {
      if (release) await release();
      for (const c of checkouts) await c.cleanup().catch(() => {});
      for (const e of entries) if (e.downloaded && e.source) await rm(e.source, { force: true });
    }
  }

  /**
   * COPY --link: the layer an earlier build made for the same step, on
   * whatever parent it had (its key does not depend on the layers below). Its
   * tar, kept in the content store, is applied as is on `parent`: the same
   * diff ID, no source read again.
   */
  private async linkedLayer(parent: Image | undefined, cc: ContainerConfig): Promise<LayerInfo | undefined> {
    if (this.req.noCache) return undefined;
    const want = JSON.stringify(cc.Cmd);
    const candidates = this.d.images.store.list()
      .filter((img) => img.record.topLayer && JSON.stringify(img.config.container_config?.Cmd) === want)
      .sort((a, b) => ((b.config.created ?? '') > (a.config.created ?? '') ? 1 : -1));
    const { layers, content } = this.d.images.store;
    for (const img of candidates) {
      const info = await layers.info(img.record.topLayer).catch(() => undefined);
      if (!info?.blob || !(await content.has(info.blob))) continue;
      return layers.register(content.openBlob(info.blob), parent?.record.topLayer || undefined, { blob: info.blob });
    }
    return undefined;
  }

  /** A git source checked out for ADD, with BuildKit's errors. */
  private async checkoutSource(g: GitRef, keepGitDir: boolean): Promise<GitCheckout> {
    try {
      return await checkoutGit(g, this.d.tmpRoot, { keepGitDir });
    } catch (err) {
      throw gitStepError(g, err);
    }
  }

  /** ADD <url>: the file downloaded beside the build (mode 0600, mtime from Last-Modified), verified by --checksum. */
  private async download(url: string, dest: string, intoDir: boolean, checksum?: string): Promise<CopyEntry> {
    let res: Response;
    try {
      res = await fetch(url, { signal: this.signal, redirect: 'follow' });
    } catch (err) {
      throw new BuildStepError(`failed to download ${url}: ${(err as Error).message}`);
    }
    if (!res.ok || !res.body) throw new BuildStepError(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
    await mkdir(this.d.tmpRoot, { recursive: true, mode: 0o700 });
    const file = join(this.d.tmpRoot, `dl-${randomBytes(8).toString('hex')}`);
    const h = createHash('sha256');
    let size = 0;
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
    body.on('data', (c: Buffer) => {
      h.update(c);
      size += c.length;
    });
    await pipeline(body, createWriteStream(file, { mode: 0o600 }));
    const digest = 'sha256:' + h.digest('hex');
    if (checksum !== undefined && checksum !== digest) {
      await rm(file, { force: true });
      throw new BuildStepError(`digest mismatch ${digest}: ${checksum}`);
    }
    const lastModified = Date.parse(res.headers.get('last-modified') ?? '');
    const name = posix.basename(new URL(url).pathname) || 'index.html';
    return { dest: intoDir ? posix.join(dest, name) : dest, kind: 'file', mode: 0o600, mtimeMs: Number.isNaN(lastModified) ? Date.now() : lastModified, source: file, size, downloaded: true };
  }

}

/** Errors in the Dockerfile or the request, raised before any step runs. */
export class DockerfileRequestError extends BadRequestError {}

/** `$VAR` and `${VAR}` in a heredoc that is not quoted; the rest is kept byte for byte. */
function expandHeredoc(content: string, env: Map<string, string>): string {
  return content.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a: string | undefined, b: string | undefined) => {
    if (m === '\\$') return '$';
    return env.get((a ?? b) as string) ?? '';
  });
}
