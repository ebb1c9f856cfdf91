// Dry-run mode (`compose --dry-run`), as docker compose v2's: every read goes
// to the engine, so the plan is made from what really exists; every change is
// answered here and never sent, so nothing is created, started, stopped or
// removed. Containers "created" meanwhile are remembered so that later reads
// of them (inspect while waiting for a dependency) answer consistently.
import { randomBytes } from 'node:crypto';
import { EngineClient, type CallOptions } from '../client/engine-client.ts';
import type { Response } from '../client/transport.ts';

const READS = new Set(['GET', 'HEAD']);

interface Simulated {
  name: string;
  healthcheck?: unknown;
  running: boolean;
}

export class DryRunClient extends EngineClient {
  private readonly created = new Map<string, Simulated>();

  constructor(real: EngineClient) {
    super(real.host);
    this.keepAlive();
  }

  private simulate(method: string, p: string, o: CallOptions): unknown {
    const path = p.split('?')[0];
    const id = randomBytes(32).toString('hex');
    if (method === 'POST' && path === '/containers/create') {
      const body = (o.body ?? {}) as { Healthcheck?: unknown };
      this.created.set(id, { name: String(o.query?.name ?? id.slice(0, 12)), healthcheck: body.Healthcheck, running: false });
      return { Id: id, Warnings: [] };
    }
    if (method === 'POST' && path === '/networks/create') return { Id: id, Warning: '' };
    if (method === 'POST' && path === '/volumes/create') {
      const body = (o.body ?? {}) as { Name?: string; Driver?: string; Labels?: Record<string, string> };
      return { Name: body.Name ?? id, Driver: body.Driver ?? 'local', Labels: body.Labels ?? {}, Mountpoint: '', Scope: 'local', Options: {} };
    }
    const m = /^\/containers\/([0-9a-f]{64})\/(start|restart|stop|kill)$/.exec(path);
    const c = m ? this.created.get(m[1]) : undefined;
    if (c) c.running = m![2] === 'start' || m![2] === 'restart';
    if (method === 'DELETE' && path.startsWith('/images/')) return [];
    return undefined;
  }

  /** A container this dry run "created", as inspect would show it. */
  private inspect(p: string): unknown {
    const m = /^\/containers\/([0-9a-f]{64})\/json$/.exec(p.split('?')[0]);
    const c = m ? this.created.get(m[1]) : undefined;
    if (!c) return undefined;
    const healthy = c.healthcheck ? { Health: { Status: c.running ? 'healthy' : 'starting' } } : {};
    return {
      Id: m![1], Name: `/${c.name}`, Mounts: [], Config: { Healthcheck: c.healthcheck },
      State: { Status: c.running ? 'running' : 'created', Running: c.running, ExitCode: 0, ...healthy },
    };
  }

  override async call<T>(method: string, p: string, o: CallOptions = {}): Promise<T> {
    if (READS.has(method)) return (this.inspect(p) as T | undefined) ?? super.call<T>(method, p, o);
    return this.simulate(method, p, o) as T;
  }

  override async status(method: string, p: string, o: CallOptions = {}): Promise<number> {
    if (READS.has(method)) return super.status(method, p, o);
    this.simulate(method, p, o);
    return 204;
  }

  override async messages<T>(method: string, p: string, o: CallOptions = {}): Promise<T[]> {
    if (READS.has(method)) return super.messages<T>(method, p, o);
    return [];
  }

  override async stream(method: string, p: string, o: CallOptions = {}): Promise<Response> {
    if (READS.has(method)) return super.stream(method, p, o);
    throw new Error(`${method} ${p.split('?')[0]} is not available in dry run mode`);
  }
}

export function isDryRun(client: EngineClient): boolean {
  return client instanceof DryRunClient;
}

/** What compose v2 puts before each progress line in dry-run mode. */
export const DRY_RUN_PREFIX = 'DRY-RUN MODE - ';
