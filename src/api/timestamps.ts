// Docker's time values: the RFC3339Nano timestamps of json-file logs, and
// the `--since`/`--until` arguments as docker's timetypes.GetTimestamp reads
// them (Go durations, Go time layouts, Unix seconds), with Go's error text.
import { InvalidArgumentError } from '../errors.ts';

const NS = 1_000_000_000n;

const LOG_TIME_RE = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:(Z)|([+-])(\d\d):(\d\d))$/;

/** Days since 1970-01-01 of a proleptic Gregorian date (any year, exact). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Whether `t` has the shape of a json-file log time (parseLogTime reads it). */
export function isLogTime(t: string): boolean {
  return LOG_TIME_RE.test(t);
}

/** An RFC3339(Nano) timestamp as nanoseconds since the epoch; undefined if it is not one. */
export function parseLogTime(t: string): bigint | undefined {
  const m = LOG_TIME_RE.exec(t);
  if (!m) return undefined;
  let secs = daysFromCivil(+m[1], +m[2], +m[3]) * 86400 + +m[4] * 3600 + +m[5] * 60 + +m[6];
  if (!m[8]) secs -= (m[9] === '-' ? -1 : 1) * (+m[10] * 3600 + +m[11] * 60);
  const frac = m[7] ? BigInt(m[7].slice(0, 9).padEnd(9, '0')) : 0n;
  return BigInt(secs) * NS + frac;
}

/**
 * A `--since`/`--until` value as docker's timetypes.GetTimestamp reads it,
 * as nanoseconds since the epoch: a Go duration before `now` ("10m", "1h30m",
 * "-5s"; whole seconds, as docker rounds them), RFC3339 or RFC3339Nano with or
 * without zone (no zone = the zone `now` is in), a date, or Unix seconds with
 * an optional fraction. "0" means none (0). Errors are docker's messages,
 * thrown as InvalidArgumentError.
 */
export function parseTimestampNs(value: string, now: Date): bigint {
  if (value !== '0') {
    const d = parseGoDuration(value);
    if (d !== undefined) {
      const t = BigInt(now.getTime()) * 1_000_000n - d;
      return floorDiv(t, NS) * NS;
    }
  }
  const parseInLocation = !/[zZ+]/.test(value) && count(value, '-') !== 3;
  let layout: string;
  if (value.includes('.')) {
    layout = parseInLocation ? '2006-01-02T15:04:05.999999999' : '2006-01-02T15:04:05.999999999Z07:00';
  } else if (value.includes('T')) {
    let tcolons = count(value, ':');
    if (!parseInLocation && !/[zZ]/.test(value) && tcolons > 0) tcolons--;
    const base = tcolons === 0 ? '2006-01-02T15' : tcolons === 1 ? '2006-01-02T15:04' : '2006-01-02T15:04:05';
    layout = parseInLocation ? base : base + 'Z07:00';
  } else {
    layout = parseInLocation ? '2006-01-02' : '2006-01-02Z07:00';
  }
  const r = goParseTime(layout, value, -now.getTimezoneOffset() * 60);
  if (typeof r === 'bigint') return r;
  if (value.includes('-')) throw new InvalidArgumentError(r);
  const unix = parseUnixTimestamp(value);
  if (unix === undefined) throw new InvalidArgumentError(`failed to parse value as time or duration: ${goQuote(value)}`);
  return unix;
}

/** parseTimestampNs as Unix seconds with fraction (a double: sub-microsecond digits may round). */
export function parseTimestampArg(value: string, now: Date): number {
  const ns = parseTimestampNs(value, now);
  return Number(ns / NS) + Number(ns % NS) / 1e9;
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_RE = /^[+-]?\d+$/;

/** docker's parseTimestamp: "seconds[.fraction]" with Go's strconv.ParseInt rules. */
function parseUnixTimestamp(value: string): bigint | undefined {
  const dot = value.indexOf('.');
  const s = dot < 0 ? value : value.slice(0, dot);
  if (!INT64_RE.test(s)) return undefined;
  const sec = BigInt(s);
  if (sec > INT64_MAX || sec < -INT64_MAX - 1n) return undefined;
  if (dot < 0) return sec * NS;
  const n = value.slice(dot + 1);
  if (!INT64_RE.test(n)) return undefined;
  const frac = BigInt(n);
  if (frac > INT64_MAX || frac < -INT64_MAX - 1n) return undefined;
  // Go: int64(float64(nsec) * math.Pow(10, 9-len(n)))
  const nsec = Math.trunc(Number(frac) * Math.pow(10, 9 - n.length));
  return sec * NS + BigInt(nsec);
}

const DURATION_UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n,
  '\u03bcs': 1_000n,
  ms: 1_000_000n,
  s: NS,
  m: 60n * NS,
  h: 3600n * NS,
};

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** Go's time.ParseDuration, in nanoseconds; undefined where Go returns an error. */
function parseGoDuration(orig: string): bigint | undefined {
  let s = orig;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return undefined;
  const LIMIT = 1n << 63n;
  let d = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) return undefined;
    let i = 0;
    while (isDigit(s[i])) i++;
    const intDigits = s.slice(0, i);
    s = s.slice(i);
    let v = intDigits ? BigInt(intDigits) : 0n;
    if (v > LIMIT) return undefined;
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[0] === '.') {
      s = s.slice(1);
      let k = 0;
      let overflow = false;
      while (isDigit(s[k])) {
        if (!overflow) {
          const y = f * 10n + BigInt(s.charCodeAt(k) - 48);
          if (f > INT64_MAX / 10n || y > LIMIT) overflow = true;
          else {
            f = y;
            scale *= 10;
          }
        }
        k++;
      }
      post = k > 0;
      s = s.slice(k);
    }
    if (intDigits === '' && !post) return undefined;
    let u = 0;
    while (u < s.length && s[u] !== '.' && !isDigit(s[u])) u++;
    if (u === 0) return undefined;
    const unit = DURATION_UNITS[s.slice(0, u)];
    if (unit === undefined) return undefined;
    s = s.slice(u);
    if (v > LIMIT / unit) return undefined;
    v *= unit;
    if (f > 0n) {
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > LIMIT) return undefined;
    }
    d += v;
    if (d > LIMIT) return undefined;
  }
  if (neg) return -d;
  return d > INT64_MAX ? undefined : d;
}

type Std = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'frac9' | 'tz';
const STD: ReadonlyArray<readonly [string, Std]> = [
  ['2006', 'year'],
  ['01', 'month'],
  ['02', 'day'],
  ['15', 'hour'],
  ['04', 'minute'],
  ['05', 'second'],
  ['.999999999', 'frac9'],
  ['Z07:00', 'tz'],
];

interface Chunk {
  prefix: string;
  std?: Std;
  stdstr: string;
}

function layoutChunks(layout: string): Chunk[] {
  const chunks: Chunk[] = [];
  let lit = '';
  for (let i = 0; i < layout.length; ) {
    const hit = STD.find(([s]) => layout.startsWith(s, i));
    if (hit) {
      chunks.push({ prefix: lit, std: hit[1], stdstr: hit[0] });
      lit = '';
      i += hit[0].length;
    } else {
      lit += layout[i++];
    }
  }
  chunks.push({ prefix: lit, stdstr: '' });
  return chunks;
}

function daysIn(month: number, year: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Go's getnum: one or two digits (exactly two when fixed). */
function getnum(s: string, fixed: boolean): [number, string] | undefined {
  if (!isDigit(s[0])) return undefined;
  if (!isDigit(s[1])) return fixed ? undefined : [s.charCodeAt(0) - 48, s.slice(1)];
  return [(s.charCodeAt(0) - 48) * 10 + s.charCodeAt(1) - 48, s.slice(2)];
}

/**
 * Go's time.Parse / time.ParseInLocation for the layouts GetTimestamp uses,
 * with Go's error messages. Layouts without a zone use `localOffset` (seconds
 * east of UTC). Returns nanoseconds since the epoch, or the error message.
 */
function goParseTime(layout: string, value: string, localOffset: number): bigint | string {
  const chunks = layoutChunks(layout);
  const cannot = (valueElem: string, layoutElem: string) =>
    `parsing time ${timeQuote(value)} as ${timeQuote(layout)}: cannot parse ${timeQuote(valueElem)} as ${timeQuote(layoutElem)}`;
  const outOfRange = (what: string) => `parsing time ${timeQuote(value)}: ${what} out of range`;
  let year = 0;
  let month = -1;
  let day = -1;
  let hour = 0;
  let min = 0;
  let sec = 0;
  let nsec = 0;
  let offset: number | undefined;
  let v = value;
  for (let ci = 0; ci < chunks.length; ci++) {
    const { prefix, std, stdstr } = chunks[ci];
    for (let k = 0; k < prefix.length; k++) {
      if (v[0] !== prefix[k]) return cannot(v, prefix);
      v = v.slice(1);
    }
    if (!std) {
      if (v !== '') return `parsing time ${timeQuote(value)}: extra text: ${timeQuote(v)}`;
      break;
    }
    const hold = v;
    let bad = false;
    let range = '';
    switch (std) {
      case 'year': {
        const p = v.slice(0, 4);
        if (v.length < 4 || !/^\d{4}$/.test(p)) bad = true;
        else {
          year = Number(p);
          v = v.slice(4);
        }
        break;
      }
      case 'month':
      case 'day':
      case 'minute':
      case 'second':
      case 'hour': {
        const r = getnum(v, std !== 'hour');
        if (!r) {
          bad = true;
          break;
        }
        const [n, rest] = r;
        v = rest;
        if (std === 'month') {
          month = n;
          if (n <= 0 || n > 12) range = 'month';
        } else if (std === 'day') day = n;
        else if (std === 'hour') {
          hour = n;
          if (n >= 24) range = 'hour';
        } else if (std === 'minute') {
          min = n;
          if (n >= 60) range = 'minute';
        } else {
          sec = n;
          if (n >= 60) {
            range = 'second';
            break;
          }
          // A fraction in the value but none in the layout is accepted too.
          if (v.length >= 2 && (v[0] === '.' || v[0] === ',') && isDigit(v[1]) && chunks[ci + 1]?.std !== 'frac9') {
            let n2 = 2;
            while (isDigit(v[n2])) n2++;
            nsec = fracToNs(v.slice(1, n2));
            v = v.slice(n2);
          }
        }
        break;
      }
      case 'frac9': {
        if (v.length < 2 || !(v[0] === '.' || v[0] === ',') || !isDigit(v[1])) break; // omitted
        let n2 = 1;
        while (isDigit(v[n2])) n2++;
        nsec = fracToNs(v.slice(1, n2));
        v = v.slice(n2);
        break;
      }
      case 'tz': {
        if (v[0] === 'Z') {
          offset = 0;
          v = v.slice(1);
          break;
        }
        if (v.length < 6 || v[3] !== ':') {
          bad = true;
          break;
        }
        const hh = getnum(v.slice(1, 3), true);
        const mm = getnum(v.slice(4, 6), true);
        if (!hh || !mm || (v[0] !== '+' && v[0] !== '-')) {
          bad = true;
          break;
        }
        if (hh[0] > 24) range = 'time zone offset hour';
        if (mm[0] > 60) range = 'time zone offset minute';
        offset = (v[0] === '-' ? -1 : 1) * (hh[0] * 3600 + mm[0] * 60);
        v = v.slice(6);
        break;
      }
    }
    if (range) return outOfRange(range);
    if (bad) return cannot(hold, stdstr);
  }
  if (month < 0) month = 1;
  if (day < 0) day = 1;
  if (day < 1 || day > daysIn(month, year)) return outOfRange('day');
  const secs = daysFromCivil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - (offset ?? localOffset);
  return BigInt(secs) * NS + BigInt(nsec);
}

/** Fraction digits as nanoseconds (digits past the ninth are dropped, as Go does). */
function fracToNs(digits: string): number {
  return Number(digits.slice(0, 9).padEnd(9, '0'));
}

/** The time package's quote(): non-ASCII and control bytes as \xNN. */
function timeQuote(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b < 0x20 || b >= 0x80) out += '\\x' + b.toString(16).padStart(2, '0');
    else {
      const c = String.fromCharCode(b);
      out += c === '"' || c === '\\' ? '\\' + c : c;
    }
  }
  return out + '"';
}

/** Go's %q (strconv.Quote) for the strings met here. */
function goQuote(s: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '"': '\\"', '\\': '\\\\' };
  let out = '"';
  for (const c of s) {
    const cp = c.codePointAt(0) as number;
    if (named[c]) out += named[c];
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else out += c;
  }
  return out + '"';
}
