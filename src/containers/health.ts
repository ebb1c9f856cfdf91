// Healthchecks (dockerd's daemon/health.go): while a container runs, its
// HEALTHCHECK command runs as an exec every interval (the start interval
// during the start period), its last five results are kept in
// State.Health.Log, and its status moves starting → healthy ⇄ unhealthy after
// `retries` failures in a row, each change a `health_status: …` event.
// Driven by the container's start and die events, so the container service
// knows nothing of it; a daemon restart resumes the probes of running containers.
import type { ContainerRecord, HealthState } from '../api/container.ts';
import type { EngineEvent, EventBus } from '../events/bus.ts';
import type { ExecService } from './exec.ts';
import type { ContainerService } from './service.ts';
import { probeOf } from './healthcheck.ts';

const MAX_LOG_ENTRIES = 5;
/** The longest a probe's result stays in memory only (a kill -9 of the daemon loses at most this much log). */
const PERSIST_EVERY_MS = 30_000;

export class HealthMonitor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Containers whose health in memory is newer than on disk, and when each was last written. */
  private readonly dirty = new Set<string>();
  private readonly persisted = new Map<string, number>();
  private readonly containers: ContainerService;
  private readonly execs: ExecService;
  private readonly events: EventBus;

  constructor(containers: ContainerService, execs: ExecService, events: EventBus) {
    this.containers = containers;
    this.execs = execs;
    this.events = events;
    events.subscribe((ev) => this.onEvent(ev));
  }

  /** Resumes the probes of containers that were running when the daemon stopped. */
  resume(): void {
    for (const rec of this.containers.list()) if (rec.State.Running && probeOf(rec)) this.schedule(rec.Id);
  }

  /** Stops the probes and writes the health not yet on disk (a daemon's clean stop). */
  async close(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.dirty].map((id) => this.persist(id)));
  }

  private onEvent(ev: EngineEvent): void {
    if (ev.Type !== 'container') return;
    if (ev.Action === 'start') {
      const rec = this.containers.find(ev.Actor.ID);
      if (!rec || !probeOf(rec)) return;
      // A new start begins a new start period: status starting, no failures (the log is kept, as dockerd's).
      void this.containers.update(rec.Id, async (r) => {
        const old = health(r);
        setHealth(r, { Status: 'starting', FailingStreak: 0, Log: old?.Log ?? [] });
      }).then(() => this.schedule(rec.Id), () => {});
    } else if (ev.Action === 'die' || ev.Action === 'destroy') {
      clearTimeout(this.timers.get(ev.Actor.ID));
      this.timers.delete(ev.Actor.ID);
      // The die's own save carries the health there is; a destroyed record needs none.
      this.dirty.delete(ev.Actor.ID);
      this.persisted.delete(ev.Actor.ID);
    }
  }

  private schedule(id: string): void {
    clearTimeout(this.timers.get(id));
    const rec = this.containers.find(id);
    const probe = rec && probeOf(rec);
    if (!rec || !probe) return;
    const inStartPeriod = health(rec)?.Status === 'starting' && Date.now() - Date.parse(rec.State.StartedAt) < probe.startPeriod;
    const wait = inStartPeriod && probe.startInterval ? probe.startInterval : probe.interval;
    this.timers.set(id, setTimeout(() => void this.run(id), wait).unref());
  }

  private async run(id: string): Promise<void> {
    const rec = this.containers.find(id);
    const probe = rec && probeOf(rec);
    if (!rec || !probe || !rec.State.Running) return;
    const startedAt = rec.State.StartedAt;
    const start = new Date();
    const result = await this.execs.probe(id, probe.cmd, probe.timeout);
    const r = this.containers.find(id);
    // Gone, stopped, or started again meanwhile: this result belongs to a run that is over.
    if (!r || !r.State.Running || r.State.StartedAt !== startedAt || !this.timers.has(id)) return;
    const h = health(r) ?? { Status: 'starting', FailingStreak: 0, Log: [] };
    const log = [...h.Log, { Start: stamp(start), End: stamp(new Date()), ExitCode: result.exitCode, Output: result.output }].slice(-MAX_LOG_ENTRIES);
    let { Status: status, FailingStreak: streak } = h;
    if (result.exitCode === 0) {
      streak = 0;
      status = 'healthy';
    } else if (!(status === 'starting' && start.getTime() - Date.parse(r.State.StartedAt) < probe.startPeriod)) {
      // Failures inside the start period do not count while the container has never been healthy.
      streak++;
      if (streak >= probe.retries) status = 'unhealthy';
    }
    setHealth(r, { Status: status, FailingStreak: streak, Log: log });
    // What decides the status after a restart is written at once; the log alone at most every
    // PERSIST_EVERY_MS (dockerd writes config.v2.json after every probe: 50 writes a second here).
    const decisive = status !== h.Status || (streak !== h.FailingStreak && Math.min(streak, h.FailingStreak) < probe.retries);
    if (decisive || Date.now() - (this.persisted.get(id) ?? 0) >= PERSIST_EVERY_MS) await this.persist(id);
    else this.dirty.add(id);
    if (status !== h.Status) {
      this.events.publish('container', `health_status: ${status}`, id, { image: r.Config.Image ?? '', name: r.Name.slice(1), ...(r.Config.Labels ?? {}) });
    }
    if (this.timers.has(id)) this.schedule(id);
  }

  /** Saves the record (with its health) under the container's lock. */
  private async persist(id: string): Promise<void> {
    this.dirty.delete(id);
    this.persisted.set(id, Date.now());
    await this.containers.update(id, async () => {}).catch(() => {});
  }
}

function health(rec: ContainerRecord): HealthState | undefined {
  return rec.State.Health;
}

function setHealth(rec: ContainerRecord, h: HealthState): void {
  rec.State = { ...rec.State, Health: h };
}

function stamp(d: Date): string {
  return d.toISOString().replace('Z', '000000Z');
}
