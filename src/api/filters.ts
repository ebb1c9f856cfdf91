// Values of the `filters` query parameter that several list and prune routes share.
import { InvalidArgumentError } from '../errors.ts';

/** `label=k`, `label=k=v` (and `label!=`): do these labels pass? */
export function labelsMatch(labels: Record<string, string>, want: string[], notWant: string[] = []): boolean {
  const has = (f: string) => {
    const eq = f.indexOf('=');
    return eq < 0 ? f in labels : labels[f.slice(0, eq)] === f.slice(eq + 1);
  };
  return want.every(has) && !notWant.some(has);
}

/** `until`/`since` filter values: a timestamp or a duration before now. */
export function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const d = /^(\d+)(s|m|h)$/.exec(v);
  if (d) return Date.now() - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[d[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`failed to parse value as time or duration: "${v}"`);
  return t;
}
