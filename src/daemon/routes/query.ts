// Query-string conventions of the Engine API.
import { InvalidArgumentError } from '../../errors.ts';

/** `filters={"status":["running"]}`, or the legacy `{"status":{"running":true}}`. */
export function parseFilters(raw: string | null): Record<string, string[]> {
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError(`invalid filter '${raw}'`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError(`invalid filter '${raw}'`);
  const out: Record<string, string[]> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(val)) out[k] = val.map(String);
    else if (val && typeof val === 'object') out[k] = Object.entries(val as Record<string, unknown>).filter(([, on]) => on).map(([name]) => name);
    else throw new InvalidArgumentError(`invalid filter '${raw}'`);
  }
  return out;
}

/** Docker's boolean query values: "1", "true", "True" are true; absent, "0", "false" false. */
export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return !['0', 'false', 'False', 'FALSE', 'no'].includes(v);
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`invalid value for ${name}: ${v}`);
  return n;
}

export function checkFilterKeys(filters: Record<string, string[]>, allowed: string[]): void {
  for (const k of Object.keys(filters)) if (!allowed.includes(k)) throw new InvalidArgumentError(`invalid filter '${k}'`);
}
