// `compose watch`: the services' develop.watch rules against the files under
// their paths. Changes are gathered for a quiet period, then each rule acts
// as docker compose's does: `sync` copies the changed files into the
// service's running containers (and deletes there what was deleted here),
// `sync+restart` syncs then restarts them, `restart` restarts, `rebuild`
// builds the image again and recreates the service's containers.
import { existsSync, statSync, watch as fsWatch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, posix, relative, sep } from 'node:path';
import type { EngineClient } from '../client/engine-client.ts';
import { packResource } from '../client/local-archive.ts';
import { ignoreMatcher, type IgnoreMatcher } from '../api/dockerignore.ts';
import type { Project, WatchExec } from './model.ts';
import { splitShellWords } from './load/shell-words.ts';
import { projectContainers } from './project-containers.ts';

export type WatchAction = 'sync' | 'rebuild' | 'sync+restart' | 'restart' | 'sync+exec';

export interface WatchRule {
  service: string;
  /** Absolute host path (a directory or a file). */
  path: string;
  action: WatchAction;
  target?: string;
  ignore: IgnoreMatcher;
  include?: IgnoreMatcher;
  exec?: WatchExec;
  initialSync: boolean;
}

/** One changed path mapped into the container by a sync rule. */
export interface PathMapping {
  host: string;
  container: string;
}

/** The rules of the selected services, with docker compose's errors for a project that cannot be watched. */
export function watchRules(project: Project, services: string[]): WatchRule[] {
  const rules: WatchRule[] = [];
  const selected = services.length ? services : Object.keys(project.services);
  for (const name of selected) {
    const s = project.services[name];
    if (!s) throw new Error(`no such service: ${name}`);
    for (const w of s.develop?.watch ?? []) {
      if (!w.path) throw new Error('watch rules MUST define a path');
      if (w.action === 'rebuild' && !s.build) throw new Error(`service ${name} doesn't have a build section, can't apply rebuild on watch`);
      if (w.action === 'sync+exec' && !w.exec?.command) throw new Error(`can't watch with action "sync+exec" on service ${name} without a command`);
      if (w.action.startsWith('sync') && !w.target) throw new Error(`service ${name}: watch action ${w.action} of ${w.path} needs a target`);
      // string_or_list in the spec.
      const list = (v: string[] | string | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
      rules.push({
        service: name, path: w.path, action: w.action, target: w.target,
        ignore: ignoreMatcher(list(w.ignore)),
        include: list(w.include).length ? ignoreMatcher(list(w.include)) : undefined,
        exec: w.exec, initialSync: w.initial_sync === true,
      });
    }
  }
  if (rules.length === 0) throw new Error("none of the selected services is configured for watch, consider setting a 'develop' section");
  return rules;
}

/** The container path a changed host path syncs to under `rule`, or undefined when the rule does not cover it. */
export function matchRule(rule: WatchRule, hostPath: string): PathMapping | 'matched' | undefined {
  const rel = relative(rule.path, hostPath);
  if (rel.startsWith('..') || rel.startsWith(sep)) return undefined;
  const relPosix = rel.split(sep).join('/');
  if (relPosix && rule.ignore.excludes(relPosix)) return undefined;
  if (relPosix && rule.include && !rule.include.excludes(relPosix)) return undefined;
  if (!rule.target) return 'matched';
  return { host: hostPath, container: relPosix ? posix.join(rule.target, relPosix) : rule.target };
}

export interface WatchHooks {
  /** Builds the services' images again and recreates their containers. */
  rebuild: (services: string[]) => Promise<void>;
  /** A line of watch output ("Syncing service …"). */
  log: (line: string) => void;
}

/** Copies each existing path into every running container of the service; removes the ones gone here. */
async function sync(client: EngineClient, project: Project, service: string, mappings: PathMapping[], skip?: (abs: string) => boolean): Promise<void> {
  const containers = await projectContainers(client, project.name, { services: [service] });
  const present = mappings.filter((m) => existsSync(m.host));
  const gone = mappings.filter((m) => !existsSync(m.host));
  await Promise.all(containers.map(async (c) => {
    for (const m of present) {
      // Named from the root, so missing parent directories are made by the extraction.
      const at = m.container.replace(/^\/+/, '');
      // The tar names start with the host path's base name; they go under the target's.
      const hostBase = basename(m.host);
      const tar = packResource(m.host, (n) => posix.join(posix.dirname(at), posix.basename(at) + n.slice(hostBase.length)), skip);
      await client.status('PUT', `/containers/${c.Id}/archive`, { query: { path: '/' }, stream: tar });
    }
    if (gone.length) {
      const { Id } = await client.call<{ Id: string }>('POST', `/containers/${c.Id}/exec`, { body: { Cmd: ['rm', '-rf', '--', ...gone.map((m) => m.container)], AttachStdout: false, AttachStderr: false } });
      await client.status('POST', `/exec/${Id}/start`, { body: { Detach: false, Tty: false } });
    }
  }));
}

/** sync+exec's hook in each running container of the service; a failure (non-zero exit) is reported as compose words it. */
async function runHook(client: EngineClient, project: Project, service: string, x: WatchExec): Promise<void> {
  const containers = await projectContainers(client, project.name, { services: [service] });
  const env = Array.isArray(x.environment)
    ? x.environment
    : Object.entries(x.environment ?? {}).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${String(v)}`);
  await Promise.all(containers.map(async (c) => {
    const { Id } = await client.call<{ Id: string }>('POST', `/containers/${c.Id}/exec`, {
      body: {
        Cmd: Array.isArray(x.command) ? x.command : splitShellWords(x.command), User: x.user ?? '', WorkingDir: x.working_dir ?? '',
        Privileged: x.privileged === true || x.privileged === 'true', Env: env, AttachStdout: true, AttachStderr: true,
      },
    });
    // Attached, so the start returns when the command is done; its output is not shown.
    const res = await client.stream('POST', `/exec/${Id}/start`, { body: { Detach: false, Tty: false } });
    for await (const _ of res) { /* drained */ }
    const r = await client.call<{ ExitCode: number | null }>('GET', `/exec/${Id}/json`);
    if (r.ExitCode) throw new Error(`exit code ${r.ExitCode}`);
  }));
}

async function restart(client: EngineClient, project: Project, services: string[]): Promise<void> {
  const containers = await projectContainers(client, project.name, { services, all: true });
  await Promise.all(containers.map((c) => client.status('POST', `/containers/${c.Id}/restart`)));
}

/** What one batch of changed paths does, in compose's order: rebuilds, then syncs, then restarts. */
export async function applyChanges(client: EngineClient, project: Project, rules: WatchRule[], changed: string[], hooks: WatchHooks): Promise<void> {
  const rebuild = new Set<string>();
  const restarts = new Set<string>();
  const syncs = new Map<string, PathMapping[]>();
  const execs = new Map<string, Set<WatchRule>>();
  for (const path of changed) {
    for (const rule of rules) {
      const m = matchRule(rule, path);
      if (!m) continue;
      if (rule.action === 'rebuild') rebuild.add(rule.service);
      if (rule.action === 'restart' || rule.action === 'sync+restart') restarts.add(rule.service);
      if (rule.action === 'sync+exec') execs.set(rule.service, (execs.get(rule.service) ?? new Set()).add(rule));
      if (rule.action.startsWith('sync') && m !== 'matched') {
        const list = syncs.get(rule.service) ?? [];
        if (!list.some((x) => x.container === m.container)) list.push(m);
        syncs.set(rule.service, list);
      }
    }
  }
  if (rebuild.size) await hooks.rebuild([...rebuild]);
  for (const [service, mappings] of syncs) {
    hooks.log(`Syncing service ${JSON.stringify(service)} after ${mappings.length} changes were detected`);
    await sync(client, project, service, mappings);
  }
  if (restarts.size) {
    await restart(client, project, [...restarts]);
    hooks.log(`service(s) ${JSON.stringify([...restarts])} restarted`);
  }
  // Each matching rule's command once per batch, after the syncs.
  await Promise.all([...execs].flatMap(([service, rs]) => [...rs].map((r) => runHook(client, project, service, r.exec as WatchExec))));
}

/** initial_sync: each such rule's path copied to its target once, before changes are watched, less what its `ignore` patterns name. */
export async function initialSync(client: EngineClient, project: Project, rules: WatchRule[]): Promise<void> {
  for (const r of rules) {
    if (!r.initialSync || !r.target || !existsSync(r.path)) continue;
    const ignored = (abs: string): boolean => r.ignore.excludes(relative(r.path, abs).split(sep).join('/'));
    await sync(client, project, r.service, [{ host: r.path, container: r.target }], ignored);
  }
}

/**
 * Watches every rule's path (recursively for a directory) and calls `onBatch`
 * with the absolute paths that changed, once they have been quiet for
 * `quietMs`; batches never overlap.
 */
export class PathWatcher {
  private readonly watchers: FSWatcher[] = [];
  private pending = new Set<string>();
  private timer?: NodeJS.Timeout;
  private running = Promise.resolve();

  constructor(paths: string[], onBatch: (changed: string[]) => Promise<void>, quietMs = 500) {
    const flush = () => {
      const batch = [...this.pending].sort();
      this.pending = new Set();
      this.running = this.running.then(() => onBatch(batch));
    };
    const changed = (path: string) => {
      this.pending.add(path);
      clearTimeout(this.timer);
      this.timer = setTimeout(flush, quietMs);
    };
    for (const p of [...new Set(paths)]) {
      if (existsSync(p) && statSync(p).isDirectory()) {
        this.watchers.push(fsWatch(p, { recursive: true }, (_e, name) => changed(name ? join(p, name.toString()) : p)));
      } else {
        // A file (or one not made yet) is watched through its directory, for editors that replace it.
        this.watchers.push(fsWatch(dirname(p), (_e, name) => { if (name?.toString() === basename(p)) changed(p); }));
      }
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }
}
