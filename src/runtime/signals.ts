// Signal names and numbers as `docker kill -s` and STOPSIGNAL accept them.
import { constants } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';

const SIGNALS = constants.signals as Record<string, number>;

/** Parses `KILL`, `SIGKILL`, `9` (and `SIGRTMIN+3`) to a signal number. */
export function parseSignal(s: string): number {
  const raw = s.trim();
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n >= 1 && n <= 64) return n;
    throw new InvalidArgumentError(`Invalid signal: ${s}`);
  }
  const name = raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : 'SIG' + raw.toUpperCase();
  const rt = /^SIGRTM(IN|AX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'IN' ? 34 : 64) + Number(rt[2] ?? 0);
    if (n >= 34 && n <= 64) return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw new InvalidArgumentError(`Invalid signal: ${s}`);
  return n;
}
