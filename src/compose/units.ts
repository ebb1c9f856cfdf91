// Compose's scalar formats: Go durations ("1m30s") and byte sizes ("512m").

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration string in nanoseconds; a bare number is taken as seconds, as compose does. */
export function durationNs(d: string | number): number {
  if (typeof d === 'number') return Math.round(d * 1e9);
  const s = d.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1e9);
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    end = re.lastIndex;
  }
  if (end !== s.length || s.length === 0) throw new Error(`invalid duration ${JSON.stringify(d)}`);
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "512m", "1gb", "1024": bytes (binary units, as the docker CLI reads them). */
export function sizeBytes(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtb]?)b?$/i.exec(v.trim());
  if (!m) throw new Error(`invalid size: ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
}
