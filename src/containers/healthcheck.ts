// A container's healthcheck as configured: dockerd's checks of a create
// request's, the merge over the image's, and what a probe runs and when.
import type { ContainerRecord } from '../api/container.ts';
import { InvalidArgumentError } from '../errors.ts';

const NS_PER_MS = 1e6;
/** dockerd's defaults, in milliseconds. */
const DEFAULTS = { interval: 30_000, timeout: 30_000, startPeriod: 0, startInterval: 5_000, retries: 3 };

export interface Healthcheck {
  Test?: string[] | null;
  /** Nanoseconds; 0 is the default. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** dockerd's checks of a create request's healthcheck, same wording. */
export function checkHealthcheck(h: Healthcheck | null | undefined): void {
  if (!h) return;
  for (const [name, v] of [['Interval', h.Interval], ['Timeout', h.Timeout], ['StartPeriod', h.StartPeriod], ['StartInterval', h.StartInterval]] as const) {
    if (v && v < NS_PER_MS) throw new InvalidArgumentError(`${name} in Healthcheck cannot be less than 1ms`);
    if (v && v < 0) throw new InvalidArgumentError(`${name} in Healthcheck cannot be negative`);
  }
  if ((h.Retries ?? 0) < 0) throw new InvalidArgumentError('Retries in Healthcheck cannot be negative');
}

/** The container's healthcheck over the image's, field by field, as dockerd merges them. */
export function mergeHealthcheck(own: Healthcheck | null | undefined, image: Healthcheck | null | undefined): Healthcheck | undefined {
  if (!own) return image ?? undefined;
  const out = { ...own };
  if (!out.Test?.length) out.Test = image?.Test;
  for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) if (!out[k] && image?.[k]) out[k] = image[k];
  return out;
}

/** What to run and how often, or nothing when the container has no (or a NONE) healthcheck. */
export function probeOf(rec: ContainerRecord): { cmd: string[]; interval: number; timeout: number; startPeriod: number; startInterval: number; retries: number } | undefined {
  const h = rec.Config.Healthcheck as Healthcheck | null | undefined;
  const test = h?.Test ?? [];
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  let cmd: string[];
  if (test[0] === 'CMD') cmd = test.slice(1);
  else if (test[0] === 'CMD-SHELL') cmd = [...(rec.Config.Shell?.length ? rec.Config.Shell : ['/bin/sh', '-c']), test.slice(1).join(' ')];
  else return undefined;
  if (cmd.length === 0) return undefined;
  const ms = (ns: number | undefined, dflt: number) => (ns && ns > 0 ? Math.max(1, Math.round(ns / NS_PER_MS)) : dflt);
  return {
    cmd,
    interval: ms(h?.Interval, DEFAULTS.interval),
    timeout: ms(h?.Timeout, DEFAULTS.timeout),
    startPeriod: ms(h?.StartPeriod, DEFAULTS.startPeriod),
    startInterval: ms(h?.StartInterval, DEFAULTS.startInterval),
    retries: h?.Retries && h.Retries > 0 ? h.Retries : DEFAULTS.retries,
  };
}

