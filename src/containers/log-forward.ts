// Live forwarding for the drivers that send entries elsewhere (syslog,
// journald): each line of a running container's output, as it comes, from
// its start to its stop, and again for running containers after a daemon
// restart. Driven by container events, like the health monitor.
import { spawn, type ChildProcess } from 'node:child_process';
import type { ContainerRecord } from '../api/container.ts';
import type { EngineEvent, EventBus } from '../events/bus.ts';
import { forwardsLogs } from './log-drivers.ts';
import type { ContainerService } from './service.ts';
import { SyslogSink } from './syslog.ts';

interface Sink { send(line: string, stream: 'stdout' | 'stderr'): void; close(): void }

/** `tag` log-opt: dockerd's template fields (default {{.ID}}, the short id). */
export function logTag(rec: ContainerRecord, template = '{{.ID}}'): string {
  const fields: Record<string, string> = {
    ID: rec.Id.slice(0, 12), FullID: rec.Id, Name: rec.Name.replace(/^\//, ''), ImageID: rec.Image.replace(/^sha256:/, '').slice(0, 12),
    ImageFullID: rec.Image, ImageName: rec.Config.Image ?? '', DaemonName: 'docker',
  };
  return template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (m, k: string) => fields[k] ?? m);
}

/** journald through systemd-cat, one per severity (Node has no unix datagram sockets for the native protocol). */
class JournalSink implements Sink {
  private readonly procs: { info: ChildProcess; err: ChildProcess };
  constructor(tag: string) {
    const cat = (prio: string) => spawn('systemd-cat', ['-t', tag, '-p', prio], { stdio: ['pipe', 'ignore', 'ignore'] });
    this.procs = { info: cat('info'), err: cat('err') };
    for (const p of Object.values(this.procs)) { p.on('error', () => {}); p.stdin?.on('error', () => {}); }
  }
  send(line: string, stream: 'stdout' | 'stderr'): void {
    (stream === 'stderr' ? this.procs.err : this.procs.info).stdin?.write(line + '\n');
  }
  close(): void {
    for (const p of Object.values(this.procs)) p.stdin?.end();
  }
}

/**
 * Listens to a container's output from its create (so the first lines of a
 * short run are not missed) and opens its sink on the first line; the sink is
 * closed when the container stops, the listeners when it is removed.
 */
export class LogForwarder {
  private readonly containers: ContainerService;
  private readonly attached = new Map<string, { closeSink(): void; detach(): void }>();
  private readonly log: (message: string) => void;

  constructor(containers: ContainerService, events: EventBus, log: (message: string) => void = () => {}) {
    this.containers = containers;
    this.log = log;
    events.subscribe((ev) => this.onEvent(ev));
  }

  /** The containers the daemon found at start. */
  resume(): void {
    for (const rec of this.containers.list()) this.attach(rec);
  }

  private onEvent(ev: EngineEvent): void {
    if (ev.Type !== 'container') return;
    const a = this.attached.get(ev.Actor.ID);
    if (ev.Action === 'create') {
      const rec = this.containers.find(ev.Actor.ID);
      if (rec) this.attach(rec);
    } else if (ev.Action === 'die') {
      a?.closeSink();
    } else if (ev.Action === 'destroy') {
      a?.detach();
    }
  }

  private attach(rec: ContainerRecord): void {
    if (!forwardsLogs(rec) || this.attached.has(rec.Id)) return;
    const cfg = rec.HostConfig.LogConfig ?? { Type: 'json-file', Config: {} };
    let sink: Sink | undefined;
    let failed = false;
    const open = (): Sink | undefined => {
      if (sink || failed) return sink;
      try {
        const tag = logTag(rec, cfg.Config.tag);
        sink = cfg.Type === 'journald' ? new JournalSink(tag) : new SyslogSink(cfg.Config, tag);
      } catch (err) {
        failed = true;
        this.log(`container ${rec.Id.slice(0, 12)}: ${cfg.Type} logging: ${(err as Error).message}`);
      }
      return sink;
    };
    const output = this.containers.output(rec.Id);
    const partial = { stdout: '', stderr: '' };
    const on = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const lines = (partial[stream] + chunk.toString('utf8')).split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const l of lines) open()?.send(l.replace(/\r$/, ''), stream);
    };
    const onStdout = on('stdout');
    const onStderr = on('stderr');
    output.on('stdout', onStdout);
    output.on('stderr', onStderr);
    const closeSink = () => {
      for (const s of ['stdout', 'stderr'] as const) {
        if (partial[s]) open()?.send(partial[s], s);
        partial[s] = '';
      }
      sink?.close();
      sink = undefined;
      failed = false;
    };
    this.attached.set(rec.Id, {
      closeSink,
      detach: () => {
        closeSink();
        output.off('stdout', onStdout);
        output.off('stderr', onStderr);
        this.attached.delete(rec.Id);
      },
    });
  }
}
