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
const MAX_OUTPUT = 4096;

/** Go's time.Duration String() for the whole milliseconds a timeout is given in: "30s", "1.5s", "500ms", "1m0s". */
function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const m = Math.floor(ms / 60_000);
  const s = ((ms % 60_000) / 1000).toString();
  return m ? `${m}m${s}s` : `${s}s`;
}

export class HealthMonitor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
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

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
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
    const start = new Date();
    const result = await this.probe(rec, probe.cmd, probe.timeout);
    const now = this.containers.find(id);
    if (!now || !now.State.Running || !this.timers.has(id)) return;
    let changed: string | undefined;
    await this.containers.update(id, async (r) => {
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
      if (status !== h.Status) changed = status;
      setHealth(r, { Status: status, FailingStreak: streak, Log: log });
    }).catch(() => {});
    if (changed) {
      this.events.publish('container', `health_status: ${changed}`, id, { image: rec.Config.Image ?? '', name: rec.Name.slice(1), ...(rec.Config.Labels ?? {}) });
    }
    if (this.timers.has(id)) this.schedule(id);
  }

  /** One probe: an exec of the test command, cut off after the timeout (exit code -1, as dockerd). */
  private async probe(rec: ContainerRecord, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    let output = '';
    const collect = (b: Buffer) => { if (output.length < MAX_OUTPUT) output += b.toString('utf8'); };
    try {
      // Transient: 50 containers probed every second would otherwise keep 15,000 exited execs for their five minutes.
      const { Id } = this.execs.create(rec.Id, { Cmd: cmd, AttachStdout: true, AttachStderr: true }, { transient: true });
      const ex = this.execs.get(Id);
      ex.output.on('stdout', collect);
      ex.output.on('stderr', collect);
      const { exited } = await this.execs.start(Id);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
      const code = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (code === 'timeout') {
        try { if (ex.Pid) process.kill(ex.Pid, 'SIGKILL'); } catch { /* already gone */ }
        return { exitCode: -1, output: `Health check exceeded timeout (${goDuration(timeoutMs)})` };
      }
      return { exitCode: code, output: output.slice(0, MAX_OUTPUT) };
    } catch (err) {
      return { exitCode: -1, output: (err as Error).message };
    }
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
