// What `service create|update|scale|rollback` print without -d while the
// service converges: the docker CLI's progress (service/progress), rendered
// as its jsonmessage stream is. On a terminal each line is redrawn in place
// with a bar; elsewhere a line with a bar is dropped and the others are
// printed as they come ("overall progress: 1 out of 2 tasks").
import { Writable } from 'node:stream';
import type { EngineClient } from '../client/engine-client.ts';
import type { Node, Service, Task } from '../api/swarm.ts';
import { CliError } from './context.ts';

const NUMBERED: Record<string, number> = {
  new: 1, allocated: 2, pending: 3, assigned: 4, accepted: 5, preparing: 6, ready: 7, starting: 8, running: 9,
  complete: 10, shutdown: 11, failed: 12, rejected: 13,
};
const MAX_PROGRESS = 9;
const MAX_BARS = 20;
// The longest state name a bar shows: every non-terminal one and `complete`.
const LONGEST = 9;

const terminal = (s: string) => (NUMBERED[s] ?? 0) > NUMBERED.running;

interface Line {
  id: string;
  action: string;
  current?: number;
  total?: number;
}

/** jsonmessage's display: ids keep their line on a terminal; a bar is shown only there. */
class Display {
  private ids = new Map<string, number>();
  private readonly out: NodeJS.WritableStream;
  private readonly tty: boolean;
  constructor(out: NodeJS.WritableStream, tty: boolean) {
    this.out = out;
    this.tty = tty;
  }

  write(l: Line): void {
    const hasProgress = (l.current ?? 0) > 0 || (l.total ?? 0) > 0;
    // Not on a terminal: a line with a bar is not printed at all.
    if (!this.tty) {
      if (!hasProgress) this.out.write(`${l.id ? l.id + ': ' : ''}${l.action}\n`);
      return;
    }
    let line = this.ids.get(l.id);
    if (line === undefined) {
      line = this.ids.size;
      this.ids.set(l.id, line);
      this.out.write('\n');
    }
    const diff = this.ids.size - line;
    // jsonmessage: up to the id's line, erase it, draw it, back down.
    this.out.write(`\x1b[${diff}A\x1b[2K\r${l.id}: ${l.action} ${this.bar(l)}\r\x1b[${diff}B`);
  }

  /** A line that is not progress: later ids start a new block. */
  message(text: string): void {
    this.ids.clear();
    this.out.write(text + '\n');
  }

  /** RenderTUIProgress with counts hidden: the bar only on a terminal wider than 110 columns. */
  private bar(l: Line): string {
    const total = l.total ?? 0;
    if (total <= 0) return '';
    const pct = Math.min(Math.floor(Math.floor(((l.current ?? 0) / total) * 100) / 2), 50);
    const width = (this.out as NodeJS.WriteStream).columns || 200;
    return width > 110 ? `[${'='.repeat(pct)}>${' '.repeat(Math.max(50 - pct, 0))}] ` : '';
  }
}

function truncError(msg: string): string {
  const m = msg.replace(/\n/g, ' ');
  return m.length > 75 ? m.slice(0, 74) + '…' : m;
}

function overall(d: Display, n: number, of: number, rollback: boolean): void {
  d.write({ id: 'overall progress', action: rollback ? `rolling back update: ${n} out of ${of} tasks` : `${n} out of ${of} tasks` });
}

/** The task to show for a key (slot or node): the most advanced desired state, then the least advanced state. */
function pick(tasks: Task[], key: (t: Task) => string, active?: Set<string>): Map<string, Task> {
  const by = new Map<string, Task>();
  for (const t of tasks) {
    if (!NUMBERED[t.DesiredState] || !NUMBERED[t.Status.State]) continue;
    const k = key(t);
    const cur = by.get(k);
    if (cur) {
      if (NUMBERED[cur.DesiredState] < NUMBERED[t.DesiredState]) continue;
      if (NUMBERED[cur.DesiredState] === NUMBERED[t.DesiredState] && NUMBERED[cur.Status.State] <= NUMBERED[t.Status.State]) continue;
    }
    if (active && t.NodeID && !active.has(t.NodeID)) continue;
    by.set(k, t);
  }
  return by;
}

class Updater {
  private initialized = false;
  private done = false;
  private slots = new Map<string, number>();
  private readonly d: Display;
  private readonly global: boolean;
  constructor(d: Display, global: boolean) {
    this.d = d;
    this.global = global;
  }

  private taskLine(t: Task, id: string, count: number, slot: number): void {
    if (this.done || count > MAX_BARS || slot > count) return;
    if (t.Status.Err) {
      this.d.write({ id, action: truncError(t.Status.Err) });
      return;
    }
    if (!terminal(t.DesiredState) && !terminal(t.Status.State)) {
      this.d.write({ id, action: t.Status.State.padEnd(LONGEST), current: NUMBERED[t.Status.State], total: MAX_PROGRESS });
    }
  }

  update(s: Service, tasks: Task[], active: Set<string>, rollback: boolean): boolean {
    if (this.global) {
      const byNode = pick(tasks, (t) => t.NodeID ?? '');
      const count = byNode.size;
      if (!this.initialized) {
        if (count === 0) {
          this.d.write({ id: 'overall progress', action: 'waiting for new tasks' });
          return false;
        }
        overall(this.d, 0, count, rollback);
        this.initialized = true;
      }
      if (this.done && [...byNode.values()].some((t) => t.Status.State !== 'running')) this.done = false;
      let running = 0;
      for (const t of byNode.values()) {
        if (!active.has(t.NodeID ?? '')) continue;
        if (!terminal(t.DesiredState) && t.Status.State === 'running') running++;
        this.taskLine(t, (t.NodeID ?? '').slice(0, 12), count, 0);
      }
      if (!this.done) {
        overall(this.d, running, count, rollback);
        if (running === count) this.done = true;
      }
      return running === count;
    }
    const replicas = s.Spec.Mode?.Replicated?.Replicas;
    if (replicas === undefined) throw new CliError('no replica count', 1);
    if (!this.initialized) {
      overall(this.d, 0, replicas, rollback);
      if (replicas <= MAX_BARS) for (let i = 1; i <= replicas; i++) this.d.write({ id: `${i}/${replicas}`, action: ' ' });
      this.initialized = true;
    }
    const bySlot = pick(tasks, (t) => String(t.Slot ?? 0), active);
    if (this.done && [...bySlot.values()].some((t) => t.Status.State !== 'running')) this.done = false;
    let running = 0;
    for (const [slot, t] of bySlot) {
      let mapped = this.slots.get(slot);
      if (mapped === undefined) {
        mapped = this.slots.size + 1;
        this.slots.set(slot, mapped);
      }
      if (!terminal(t.DesiredState) && t.Status.State === 'running') running++;
      this.taskLine(t, `${mapped}/${replicas}`, replicas, mapped);
    }
    if (!this.done) {
      overall(this.d, running, replicas, rollback);
      if (running === replicas) this.done = true;
    }
    return running === replicas;
  }
}

/** A job's progress: each run (JobIteration) until its tasks complete. */
class JobUpdater {
  private initialized = false;
  private readonly d: Display;
  private total = 0;
  private concurrent = 0;
  private nodes = new Set<string>();
  private readonly global: boolean;
  constructor(d: Display, s: Service) {
    this.d = d;
    this.global = !s.Spec.Mode?.ReplicatedJob;
    if (!this.global) {
      this.total = s.Spec.Mode!.ReplicatedJob!.TotalCompletions ?? 0;
      this.concurrent = s.Spec.Mode!.ReplicatedJob!.MaxConcurrent ?? 0;
    }
  }

  private taskLine(t: Task, id: string): void {
    if (this.total > MAX_BARS) return;
    if (t.Status.Err) this.d.write({ id, action: truncError(t.Status.Err) });
    else this.d.write({ id, action: t.Status.State.padEnd(LONGEST), current: NUMBERED[t.Status.State], total: 10 });
  }

  private overall(complete: number, active?: number): void {
    const digits = String(this.total).length;
    this.d.write({ id: 'job progress', action: `${String(complete).padStart(digits)} out of ${this.total} complete`, current: complete, total: this.total });
    if (active === undefined) return;
    const ad = String(this.concurrent).length;
    this.d.write({ id: 'active tasks', action: `${String(active).padStart(ad)} out of ${String(Math.min(this.total - complete, this.concurrent)).padStart(ad)} tasks` });
  }

  update(s: Service, tasks: Task[], active: Set<string>): boolean {
    const iteration = s.JobStatus?.JobIteration.Index;
    const mine = tasks.filter((t) => t.JobIteration !== undefined && t.JobIteration.Index === iteration);
    if (this.global) {
      if (!this.initialized) {
        if (tasks.length === 0 && active.size !== 0) {
          this.d.write({ id: 'job progress', action: 'waiting for tasks' });
          return false;
        }
        for (const t of mine) this.nodes.add(t.NodeID ?? '');
        this.total = this.nodes.size;
        this.overall(0);
        this.initialized = true;
      }
      const byNode = new Map<string, Task>();
      for (const t of mine) {
        if (!this.nodes.has(t.NodeID ?? '')) continue;
        const cur = byNode.get(t.NodeID ?? '');
        if (!cur || NUMBERED[cur.Status.State] > NUMBERED[t.Status.State]) byNode.set(t.NodeID ?? '', t);
      }
      let complete = 0;
      for (const t of byNode.values()) {
        this.taskLine(t, t.NodeID ?? '');
        if (t.Status.State === 'complete') complete++;
      }
      this.overall(complete);
      return complete === this.total;
    }
    if (!this.initialized) {
      this.overall(0, 0);
      if (this.total <= MAX_BARS) for (let i = 1; i <= this.total; i++) this.d.write({ id: `${i}/${this.total}`, action: ' ' });
      this.initialized = true;
    }
    const bySlot = new Map<number, Task>();
    for (const t of mine) {
      if (!NUMBERED[t.DesiredState] || !NUMBERED[t.Status.State]) continue;
      const cur = bySlot.get(t.Slot ?? 0);
      if (!cur || NUMBERED[cur.Status.State] > NUMBERED[t.Status.State]) bySlot.set(t.Slot ?? 0, t);
    }
    let activeTasks = 0;
    let complete = 0;
    // As the docker CLI: slots 0..n-1 of the map, each shown as slot+1.
    for (let i = 0; i < bySlot.size; i++) {
      const t = bySlot.get(i);
      if (!t) continue;
      this.taskLine(t, `${i + 1}/${this.total}`);
      if (NUMBERED[t.Status.State] < NUMBERED.complete) activeTasks++;
      if (t.Status.State === 'complete') complete++;
    }
    this.overall(complete, activeTasks);
    return complete === this.total;
  }
}

/**
 * Follows a service until its tasks have run for the update monitor period
 * (5 s by default), as WaitOnService does; `quiet` prints nothing.
 */
export async function waitOnService(client: EngineClient, serviceId: string, quiet = false): Promise<void> {
  const d = quiet ? new Display(new Writable({ write: (_c, _e, cb) => cb() }), false) : new Display(process.stdout, process.stdout.isTTY === true);
  let updater: Updater | JobUpdater | undefined;
  let converged = false;
  let convergedAt = 0;
  let rollback = false;
  let message: Line | undefined;
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.once('SIGINT', onSigint);
  try {
    for (;;) {
      const s = await client.call<Service>('GET', `/services/${encodeURIComponent(serviceId)}`, { query: { insertDefaults: 'false' } });
      const monitor = s.Spec.UpdateConfig?.Monitor ? s.Spec.UpdateConfig.Monitor / 1e6 : 5000;
      if (!updater) {
        const mode = s.Spec.Mode ?? {};
        if (mode.Replicated?.Replicas !== undefined) updater = new Updater(d, false);
        else if (mode.Global) updater = new Updater(d, true);
        else if (mode.ReplicatedJob || mode.GlobalJob) updater = new JobUpdater(d, s);
        else throw new CliError('unrecognized service mode', 1);
      }
      const u = s.UpdateStatus;
      switch (u?.State) {
        case 'updating': rollback = false; break;
        case 'completed': if (!converged) return; break;
        case 'paused': throw new CliError(`service update paused: ${u.Message ?? ''}`, 1);
        case 'rollback_started':
          if (!rollback && u.Message) d.write({ id: 'rollback', action: u.Message });
          rollback = true;
          break;
        case 'rollback_paused': throw new CliError(`service rollback paused: ${u.Message ?? ''}`, 1);
        case 'rollback_completed':
          if (!converged) message = { id: 'rollback', action: u.Message ?? '' };
          rollback = true;
          break;
      }
      if (converged && performance.now() - convergedAt >= monitor) {
        d.write({ id: 'verify', action: `Service ${serviceId} converged` });
        if (message) d.write(message);
        return;
      }
      const tasks = await client.call<Task[]>('GET', '/tasks', { query: { filters: JSON.stringify({ service: { [s.ID]: true }, '_up-to-date': { true: true } }) } });
      const nodes = await client.call<Node[]>('GET', '/nodes');
      const active = new Set(nodes.filter((n) => n.Status?.State !== 'down').map((n) => n.ID));
      converged = updater.update(s, tasks, active, rollback);
      if (converged) {
        if (s.JobStatus) {
          d.message('job complete');
          return;
        }
        if (!convergedAt) convergedAt = performance.now();
        const wait = monitor - (performance.now() - convergedAt);
        if (wait >= 0) d.write({ id: 'verify', action: `Waiting ${Math.floor(wait / 1000) + 1} seconds to verify that tasks are stable...` });
      } else {
        if (convergedAt) d.write({ id: 'verify', action: 'Detected task failure' });
        convergedAt = 0;
      }
      await new Promise((r) => setTimeout(r, 200));
      if (interrupted) {
        if (!converged) {
          d.message('Operation continuing in background.');
          d.message(`Use \`berth service ps ${serviceId}\` to check progress.`);
        }
        return;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
