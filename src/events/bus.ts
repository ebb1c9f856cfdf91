// The daemon's event stream (`GET /events`). Recent events are kept in memory
// so `--since` can replay them, as dockerd keeps its last 256.
import { EventEmitter } from 'node:events';

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'daemon' | 'plugin' | 'builder';

export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  // Deprecated top-level fields that older clients (and docker-py) still read.
  status?: string;
  id?: string;
  from?: string;
}

export type EventFilters = Record<string, string[]>;

const HISTORY = 1024;

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly history: EngineEvent[] = [];

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const ev: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      ev.status = action;
      ev.id = id;
      if (type === 'container' && attributes.image) ev.from = attributes.image;
    }
    this.history.push(ev);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit('event', ev);
    return ev;
  }

  /** Events at or after `sinceNs` still in memory. */
  since(sinceNs: bigint): EngineEvent[] {
    return this.history.filter((e) => BigInt(e.timeNano) >= sinceNs);
  }

  subscribe(fn: (ev: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}

/** dockerd's event filter semantics: OR within a key, AND across keys. */
export function matchesEventFilters(ev: EngineEvent, filters: EventFilters): boolean {
  const attrs = ev.Actor.Attributes;
  for (const [key, values] of Object.entries(filters)) {
    if (values.length === 0) continue;
    const ok = values.some((v) => {
      switch (key) {
        case 'type': return ev.Type === v;
        case 'event': return ev.Action === v || ev.Action.startsWith(v + ':');
        case 'container': return ev.Type === 'container' && (ev.Actor.ID === v || ev.Actor.ID.startsWith(v) || attrs.name === v);
        case 'image': return attrs.image === v || (ev.Type === 'image' && (ev.Actor.ID === v || attrs.name === v));
        case 'label': {
          const eq = v.indexOf('=');
          return eq < 0 ? v in attrs : attrs[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case 'scope': return v === 'local';
        default: return true;
      }
    });
    if (!ok) return false;
  }
  return true;
}
