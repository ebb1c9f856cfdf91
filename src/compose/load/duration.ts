// Compose durations ("1m30s", "500ms", "2h") as Go's time.ParseDuration reads
// them (api/units.ts); printed back in Go's canonical form, as `docker compose config` does.
import { parseGoDuration } from '../../api/units.ts';
import { ComposeError } from './errors.ts';

/** Milliseconds, or undefined for a string that is not a duration. */
export function parseDuration(s: string): number | undefined {
  try {
    return parseGoDuration(s) / 1e6;
  } catch {
    return undefined;
  }
}

/** Go's Duration.String() of a millisecond count ("1m30s", "500ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out = '';
  if (rest < 1000) {
    out = rest >= 1 ? `${trim(rest)}ms` : rest >= 1e-3 ? `${trim(rest * 1e3)}µs` : `${trim(rest * 1e6)}ns`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    out = `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${trim(rest / 1000)}s`;
  }
  return (neg ? '-' : '') + out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

/** A duration as compose prints it; `where` names the key of one that is not a duration. */
export function normaliseDuration(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = typeof v === 'number' ? v / 1e6 : parseDuration(String(v));
  if (ms === undefined) throw new ComposeError(`${where}: time: invalid duration ${JSON.stringify(String(v))}`);
  return formatDuration(ms);
}
