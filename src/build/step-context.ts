// What the steps of a build share: the request, the stages and their
// state, and the StepContext through which RUN (run-step.ts) and COPY/ADD
// (copy-step.ts) reach the build they are part of (builder.ts).
import type { ContainerConfig } from '../api/container.ts';
import type { IgnoreMatcher } from '../api/dockerignore.ts';
import type { ContainerService } from '../containers/service.ts';
import type { ImageService } from '../images/service.ts';
import type { Image } from '../images/store.ts';
import type { Snapshotter } from '../storage/snapshotter.ts';
import type { Instruction } from './dockerfile/index.ts';

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

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
export const PLATFORM_ARGS: Record<string, string> = {
  TARGETPLATFORM: 'linux/amd64', TARGETOS: 'linux', TARGETARCH: 'amd64', TARGETVARIANT: '',
  BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '',
};

export interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  instructions: Instruction[];
}

/** What a stage has built so far. */
export interface StageState {
  image?: Image;
  config: ContainerConfig;
  /** Declared ARGs and their values, in declaration order. */
  args: Map<string, string | undefined>;
  /** CMD was set in this stage (so ENTRYPOINT does not reset it). */
  cmdSet: boolean;
  author?: string;
}

export const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** What a step needs of the build it runs in. */
export interface StepContext {
  readonly d: BuilderDeps;
  readonly req: BuildRequest;
  /** The unpacked context. */
  readonly ctxDir: string;
  /** Remembered COPY checksums of a context the daemon keeps. */
  readonly ctxMemo?: Map<string, string>;
  readonly ignore?: IgnoreMatcher;
  readonly signal?: AbortSignal;
  readonly stages: Stage[];
  /** Run at the build's end, in reverse order. */
  readonly cleanups: Array<() => Promise<void>>;
  /** Removals of intermediate containers still under way. */
  readonly removals: Promise<void>[];
  /** A context file's sha256 as the unpack saw it. */
  knownDigest(source: string): string | undefined;
  out(text: string): void;
  /** Where the running stage's output goes, captured for callbacks outside its async context. */
  writer(): (text: string) => void;
  stageEnv(st: StageState): Map<string, string>;
  /** A cached image for this step, or undefined. */
  cached(parent: Image | undefined, containerConfig: ContainerConfig, config: ContainerConfig): Promise<Image | undefined>;
  withParent(st: StageState, config: ContainerConfig): ContainerConfig;
  useCache(st: StageState, hit: Image): void;
  stepDone(st: StageState, img: Image, config: ContainerConfig): void;
  shellOf(st: StageState): string[];
  /** The root filesystem of a stage or image, readable at `dir` until `release`. */
  imageRoot(ref: string): Promise<{ dir: string; image: Image; release: () => Promise<void> }>;
}

/** Directories of an image's layers, top first. */
export async function layerDirs(snapshots: Snapshotter, img: Image): Promise<string[]> {
  const dirs: string[] = [];
  for (let key: string | undefined = img.record.topLayer || undefined; key; key = (await snapshots.stat(key)).parent) {
    dirs.push(await snapshots.dir(key));
  }
  return dirs;
}
