// /containers/* routes.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ApiServer, Context, Hijacked } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError, ConflictError, NotFoundError } from '../../errors.ts';
import { CONTAINER_CREATE, decodeBody } from './body-shape.ts';
import { boolParam, checkFilterKeys, intParam, parseFilters } from './query.ts';
import { encodeFrame } from '../../api/stream-frames.ts';
import { logFramePool, readLogFrames, readLogs } from '../../containers/logs.ts';
import { parseTimestampArg } from '../../api/timestamps.ts';
import type { ContainerRecord, ContainerSummary } from '../../api/container.ts';
import { labelsMatch } from '../../api/filters.ts';
import type { CreateRequest } from '../../containers/create.ts';
import { containerNetworks, demandOverlays, requestedNetworks } from '../overlay-demand.ts';
import { containerStatus } from '../../api/units.ts';
import { linkNames, removeLink } from '../../containers/legacy-links.ts';
import { logFile } from '../../containers/log-drivers.ts';
import { createTar } from '../../storage/archive.ts';
import { containerTop } from '../../containers/top.ts';
import { containerChanges } from '../../containers/changes.ts';
import { portSummary } from '../../network/ports.ts';
import type { NetworkSettings } from '../../network/model.ts';
import { compareStrings } from '../../api/compare.ts';

/** dockerd's filters.Match: equal, or the value as a regular expression (an invalid one matches nothing). */
function filterMatch(pattern: string, source: string): boolean {
  if (pattern === source) return true;
  try {
    return new RegExp(pattern).test(source);
  } catch {
    return false;
  }
}

/** Resolves when `out` can take more, or will never (closed, failed), or the client left. */
function drained(out: Writable, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
    signal.addEventListener('abort', done, { once: true });
    if (signal.aborted || out.destroyed) done();
  });
}

const RAW = 'application/vnd.docker.raw-stream';
const MUX = 'application/vnd.docker.multiplexed-stream';

export function containerRoutes(api: ApiServer, engine: Engine): void {
  const { containers } = engine;

  api.route('POST', '/containers/create', async (ctx) => {
    const body = decodeBody<CreateRequest>(await ctx.json(), CONTAINER_CREATE, 'container.CreateRequest');
    await demandOverlays(engine, requestedNetworks(body));
    const res = await containers.create(ctx.query.get('name') ?? undefined, body);
    return { status: 201, body: res };
  });

  api.route('GET', '/containers/json', async (ctx) => {
    const all = boolParam(ctx.query, 'all');
    const limit = intParam(ctx.query, 'limit') ?? -1;
    const size = boolParam(ctx.query, 'size');
    const filters = parseFilters(ctx.query.get('filters'));
    checkFilterKeys(filters, ['ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name', 'network', 'publish', 'since', 'status', 'volume']);
    let list = containers.list().sort((a, b) => compareStrings(b.Created, a.Created));
    const beforeRec = filters.before?.[0] ? containers.get(filters.before[0]) : undefined;
    const sinceRec = filters.since?.[0] ? containers.get(filters.since[0]) : undefined;
    const showAll = all || limit > 0 || filters.status !== undefined || filters.exited !== undefined || beforeRec !== undefined || sinceRec !== undefined;
    for (const h of filters.health ?? []) {
      if (!['starting', 'healthy', 'unhealthy', 'none'].includes(h)) throw new InvalidArgumentError(`Unrecognised filter value for health: ${h}`);
    }
    for (const s of filters.status ?? []) {
      if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(s)) throw new InvalidArgumentError(`invalid filter 'status=${s}'`);
    }
    list = list.filter((c) => {
      if (!showAll && !c.State.Running) return false;
      if (filters.id && !filters.id.some((p) => c.Id.startsWith(p))) return false;
      if (filters.name && !filters.name.some((n) => filterMatch(n, c.Name) || filterMatch(n, c.Name.slice(1)))) return false;
      if (filters.status && !filters.status.includes(c.State.Status)) return false;
      if (filters.exited && (c.State.Running || c.State.Status === 'created' || !filters.exited.map(Number).includes(c.State.ExitCode))) return false;
      if (filters.label && !labelsMatch(c.Config.Labels ?? {}, filters.label)) return false;
      if (filters.health && !filters.health.includes(c.State.Health?.Status ?? 'none')) return false;
      if (filters.ancestor && !filters.ancestor.some((a) => {
        const img = engine.images.store.resolve(a);
        return img !== undefined && img.record.id === c.Image;
      })) return false;
      if (filters.network && !filters.network.some((n) => Object.entries((c.NetworkSettings as unknown as NetworkSettings).Networks ?? {}).some(([name, ep]) => name === n || ep.NetworkID === n || (n.length >= 12 && ep.NetworkID.startsWith(n))))) return false;
      // volume=: a volume's name or a mount's destination, as dockerd matches it.
      if (filters.volume && !filters.volume.some((v) => (c.Mounts as { Name?: string; Destination?: string }[] ?? []).some((m) => m.Name === v || m.Destination === v))) return false;
      if (beforeRec && c.Created >= beforeRec.Created) return false;
      if (sinceRec && c.Created <= sinceRec.Created) return false;
      return true;
    });
    if (limit > 0) list = list.slice(0, limit);
    const out = [];
    const links = allLinkNames(engine);
    for (const c of list) out.push(await summary(engine, c, size, links));
    return { body: out };
  });

  api.route('GET', '/containers/:id/json', async (ctx) => {
    const c = containers.get(ctx.params.id);
    return { body: await inspect(engine, c, boolParam(ctx.query, 'size')) };
  });

  api.route('POST', '/containers/:id/start', async (ctx) => {
    if (ctx.query.get('checkpoint')) throw new InvalidArgumentError('checkpoints are not supported');
    await demandOverlays(engine, containerNetworks(containers.get(ctx.params.id)));
    await containers.start(ctx.params.id);
  });

  api.route('POST', '/containers/:id/pause', async (ctx) => {
    await containers.pause(ctx.params.id);
  });

  api.route('POST', '/containers/:id/unpause', async (ctx) => {
    await containers.unpause(ctx.params.id);
  });

  api.route('POST', '/containers/:id/stop', async (ctx) => {
    await containers.stop(ctx.params.id, intParam(ctx.query, 't'), ctx.query.get('signal') ?? undefined);
  });

  api.route('POST', '/containers/:id/restart', async (ctx) => {
    await containers.restart(ctx.params.id, intParam(ctx.query, 't'), ctx.query.get('signal') ?? undefined);
  });

  api.route('POST', '/containers/:id/kill', async (ctx) => {
    await containers.kill(ctx.params.id, ctx.query.get('signal') || 'SIGKILL');
  });

  api.route('POST', '/containers/:id/wait', async (ctx) => {
    const condition = ctx.query.get('condition') ?? 'not-running';
    const c = containers.get(ctx.params.id);
    // Headers go out at once: clients take them as "the wait is registered".
    const waiting = containers.wait(c.Id, condition, ctx.signal);
    const out = ctx.stream(200, 'application/json');
    try {
      out.end(JSON.stringify(await waiting) + '\n');
    } catch (err) {
      out.end(JSON.stringify({ StatusCode: -1, Error: { Message: (err as Error).message } }) + '\n');
    }
  });

  api.route('DELETE', '/containers/:id', async (ctx) => {
    const c = containers.get(ctx.params.id);
    if (boolParam(ctx.query, 'link')) {
      // A link name of one segment (`/db`) is a container's own name: dockerd's conflict.
      removeLink(undefined, '', ctx.params.id);
    }
    await containers.remove(c.Id, { force: boolParam(ctx.query, 'force'), removeVolumes: boolParam(ctx.query, 'v') });
    engine.execs.forgetContainer(c.Id);
  });

  // docker rm --link /parent/alias: the link's name is two segments.
  api.route('DELETE', '/containers/:parent/:alias', async (ctx) => {
    if (!boolParam(ctx.query, 'link')) throw new NotFoundError('page not found');
    const parent = containers.find(ctx.params.parent);
    await containers.update(parent?.Id ?? ctx.params.parent, async (rec) => removeLink(rec, ctx.params.parent, ctx.params.alias))
      .catch((err: unknown) => {
        if (!parent) removeLink(undefined, ctx.params.parent, ctx.params.alias);
        throw err;
      });
    return { status: 204 };
  });

  api.route('POST', '/containers/:id/rename', async (ctx) => {
    await containers.rename(ctx.params.id, ctx.query.get('name') ?? '');
  });

  api.route('POST', '/containers/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    return { body: await containers.prune(filters) };
  });

  api.route('POST', '/containers/:id/resize', async (ctx) => {
    const h = intParam(ctx.query, 'h') ?? 0;
    const w = intParam(ctx.query, 'w') ?? 0;
    containers.resize(ctx.params.id, h, w);
    return { status: 200 }; // dockerd answers 200 with no body (dockerode accepts only that)
  });

  api.route('GET', '/containers/:id/logs', async (ctx) => {
    const c = containers.get(ctx.params.id);
    const q = ctx.query;
    const stdout = boolParam(q, 'stdout');
    const stderr = boolParam(q, 'stderr');
    if (!stdout && !stderr) throw new InvalidArgumentError('Bad parameters: you must choose at least one stream');
    const file = logFile(c);
    if (!file) throw new InvalidArgumentError('configured logging driver does not support reading');
    const now = new Date();
    const since = q.get('since') ? parseTimestampArg(q.get('since') as string, now) : 0;
    const until = q.get('until') ? parseTimestampArg(q.get('until') as string, now) : undefined;
    const tailRaw = q.get('tail');
    const tail = tailRaw === null || tailRaw === '' || tailRaw === 'all' ? 'all' : Number(tailRaw);
    if (tail !== 'all' && (!Number.isInteger(tail) || tail < 0)) throw new InvalidArgumentError(`invalid value for "tail": "${tailRaw}"`);
    const follow = boolParam(q, 'follow') && c.State.Running;
    const tty = c.Config.Tty === true;
    // With the signal, an abandoned follow leaves no listener on the container's output.
    const followUntil = follow ? once(containers.output(c.Id), 'end', { signal: ctx.signal }).then(() => {}, () => {}) : undefined;
    const pool = logFramePool();
    const fmt = { tty, timestamps: boolParam(q, 'timestamps'), details: boolParam(q, 'details'), pool };
    // One buffer per chunk of the file, the frames (or a TTY's bare entries) built straight from its bytes.
    const frames = readLogFrames(file.path, { stdout, stderr, since, until, tail, follow, signal: ctx.signal, followUntil }, fmt);
    const out = ctx.stream(200, tty ? RAW : MUX);
    // Each buffer goes back to the pool once written; a full socket is waited for (or the client's leaving).
    // However the loop ends (the client gone: the signal), the generator is ended, which releases the log files and watcher.
    // The next chunk is asked for before the socket drains, so it is read and encoded meanwhile.
    try {
      let next = frames.next();
      for (;;) {
        const r = await next;
        if (r.done || ctx.signal.aborted) break;
        const b = r.value;
        const room = out.write(b, () => pool.release(b));
        next = frames.next();
        next.catch(() => {}); // a failure is thrown by the await above, not reported as unhandled meanwhile
        if (!room) await drained(out, ctx.signal);
      }
    } finally {
      await frames.return();
    }
    if (!ctx.signal.aborted) out.end();
  });

  const attach = async (ctx: Context): Promise<void> => {
    const c = containers.get(ctx.params.id);
    const q = ctx.query;
    if (c.State.Paused) throw new ConflictError(`You cannot attach to a paused container, unpause it first`);
    const tty = c.Config.Tty === true;
    const wantIn = boolParam(q, 'stdin');
    const wantOut = boolParam(q, 'stdout');
    const wantErr = boolParam(q, 'stderr');
    const stream = boolParam(q, 'stream');
    const hj = await ctx.hijack(tty ? RAW : MUX);
    engine.events.publish('container', 'attach', c.Id, { image: c.Config.Image ?? '', name: c.Name.slice(1), ...(c.Config.Labels ?? {}) });
    const emit = (fd: 1 | 2, data: Buffer) => {
      if ((fd === 1 && !wantOut) || (fd === 2 && !wantErr)) return;
      hj.output.write(tty ? data : encodeFrame(fd, data));
    };
    const logs = logFile(c);
    if (boolParam(q, 'logs') && logs) {
      for await (const e of readLogs(logs.path, { stdout: wantOut, stderr: wantErr, follow: false, signal: ctx.signal })) emit(e.stream === 'stderr' ? 2 : 1, e.line);
    }
    if (!stream) {
      hj.end();
      return;
    }
    const output = containers.output(c.Id);
    const onOut = (b: Buffer) => emit(1, b);
    const onErr = (b: Buffer) => emit(2, b);
    const finish = () => {
      output.off('stdout', onOut);
      output.off('stderr', onErr);
      output.off('end', finish);
      hj.end();
    };
    output.on('stdout', onOut);
    output.on('stderr', onErr);
    output.on('end', finish);
    hj.output.on('close', finish);
    if (wantIn && c.Config.OpenStdin) {
      pipeStdin(hj, q.get('detachKeys'), c.Config.Tty === true, {
        write: (b) => containers.writeStdin(c.Id, b),
        close: () => { if (c.Config.StdinOnce) containers.closeStdin(c.Id); },
        detach: finish,
      });
    }
  };
  api.route('POST', '/containers/:id/attach', attach);

  api.route('GET', '/containers/:id/export', async (ctx) => {
    const c = containers.get(ctx.params.id);
    // ctx.pipe, not .pipe(): a client that goes away must stop the walk (and unmount), not leave it waiting.
    await engine.rootfs.with(c, (dir, ids) => ctx.pipe(200, 'application/x-tar', createTar(dir, { signal: ctx.signal, idMap: ids?.toContainer })));
    engine.events.publish('container', 'export', c.Id, { image: c.Config.Image ?? '', name: c.Name.slice(1) });
  });

  api.route('GET', '/containers/:id/changes', async (ctx) => {
    const c = containers.get(ctx.params.id);
    const mounts = await containers.mountsOf(c.Id);
    return { body: await containerChanges(mounts[0]) };
  });

  api.route('GET', '/containers/:id/top', async (ctx) => {
    const c = containers.get(ctx.params.id);
    if (!c.State.Running) throw new ConflictError(`Container ${c.Id} is not running`);
    const top = await containerTop(containers.runtimeFor(c), c.Id, ctx.query.get('ps_args') ?? '');
    containers.publish(c, 'top');
    return { body: top };
  });
}

const DEFAULT_DETACH = [16, 17]; // ctrl-p, ctrl-q

/** Parses `ctrl-p,ctrl-q`-style detach keys to bytes, as the docker CLI sends them. */
export function parseDetachKeys(spec: string | null): number[] {
  if (!spec) return DEFAULT_DETACH;
  return spec.split(',').map((k) => {
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(k);
    if (m) return m[1] === '@' ? 0 : m[1].charCodeAt(0) - (m[1] >= 'a' ? 96 : 64);
    if (k.length === 1) return k.charCodeAt(0);
    throw new InvalidArgumentError(`Invalid detach keys (${spec}) provided`);
  });
}

/** Client → process stdin, watching for the detach sequence on a tty. */
export function pipeStdin(hj: Hijacked, detachSpec: string | null, tty: boolean, sink: { write(b: Buffer): void; close(): void; detach(): void }): void {
  const keys = tty ? parseDetachKeys(detachSpec) : [];
  let matched = 0;
  hj.input.on('data', (chunk: Buffer) => {
    if (keys.length === 0) {
      sink.write(chunk);
      return;
    }
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === keys[matched]) {
        matched++;
        if (matched === keys.length) {
          sink.detach();
          return;
        }
        continue;
      }
      if (matched > 0) sink.write(Buffer.from(keys.slice(0, matched)));
      matched = 0;
      sink.write(chunk.subarray(i, i + 1));
    }
  });
  hj.input.on('end', () => sink.close());
  hj.input.on('error', () => {});
}

/** dockerd's list Command: arguments containing a space are wrapped in single quotes. */
function commandString(c: ContainerRecord): string {
  return [c.Path, ...c.Args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
}

/** The link names of every container, by target id: computed once for a list, not once per container. */
export function allLinkNames(engine: Engine): Map<string, string[]> {
  return linkNames(engine.containers.list(), (r) => engine.containers.find(r));
}

export async function summary(engine: Engine, c: ContainerRecord, size: boolean, links: Map<string, string[]> = allLinkNames(engine)): Promise<ContainerSummary> {
  const out: ContainerSummary = {
    Id: c.Id,
    Names: [c.Name, ...(links.get(c.Id) ?? [])],
    Image: c.Config.Image ?? '',
    ImageID: c.Image,
    Command: commandString(c),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: portSummary((c.NetworkSettings as unknown as NetworkSettings).Ports),
    Labels: c.Config.Labels ?? {},
    State: c.State.Status,
    Status: containerStatus({
      state: c.State.Status, exitCode: c.State.ExitCode,
      startedAt: Date.parse(c.State.StartedAt), finishedAt: Date.parse(c.State.FinishedAt), now: Date.now(), health: c.State.Health?.Status,
    }),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode },
    NetworkSettings: { Networks: (c.NetworkSettings as unknown as NetworkSettings).Networks ?? {} },
    Mounts: c.Mounts ?? [],
  };
  if (size) {
    out.SizeRw = await engine.containers.rootfsSize(c.Id);
    const img = engine.images.store.byId(c.Image);
    out.SizeRootFs = out.SizeRw + (img ? await engine.images.size(img) : 0);
  }
  return out;
}

async function inspect(engine: Engine, c: ContainerRecord, size: boolean): Promise<Record<string, unknown>> {
  const { berthManuallyStopped: _m, berthMountPoints: _p, ...pub } = c as ContainerRecord & { berthMountPoints?: unknown };
  const out: Record<string, unknown> = { ...pub, State: { ...c.State } };
  if (size) {
    out.SizeRw = await engine.containers.rootfsSize(c.Id);
    const img = engine.images.store.byId(c.Image);
    out.SizeRootFs = (out.SizeRw as number) + (img ? await engine.images.size(img) : 0);
  }
  return out;
}
