// Compose durations ("1m30s", "500ms", "2h") as Go's time.ParseDuration reads
// them; printed back in Go's canonical form, as `docker compose config` does.
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined for a string that is not a duration. */
export function parseDuration(s: string): number | undefined {
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (s === '0') return 0;
  if (!m) return undefined;
  let total = 0;
  for (const part of s.replace(/^[-+]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * UNITS[part[2]];
  }
  return m[1] === '-' ? -total : total;
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

/** A duration as compose prints it; anything unparseable is kept as written (the schema has let it through). */
export function normaliseDuration(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = typeof v === 'number' ? v / 1e6 : parseDuration(String(v));
  return ms === undefined ? String(v) : formatDuration(ms);
}
