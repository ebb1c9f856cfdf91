// Go's view of JavaScript values, and the parts of Go's fmt, strconv and
// encoding/json that text/template output depends on.
//
// Value model (what a Go program decoding the same data would see):
//   undefined / NO_VALUE   an invalid reflect.Value (a missing map key): prints "<no value>"
//   null                   a nil interface or pointer: prints "<nil>"
//   string, boolean        string, bool
//   number                 int when integral (and within int64), else float64
//   bigint                 int
//   Array                  a slice ([]string when every element is a string)
//   plain object, Map      a map with string keys (sorted when printed, ranged or encoded)
//   goStruct(...), class   a struct: fields in declaration (insertion) order; a missing
//     instance             field is an error, function-valued fields are methods
//   Date                   time.Time

/** Go's invalid reflect.Value: what a missing map key evaluates to. */
export const NO_VALUE: unique symbol = Symbol('<no value>');

const GO_TYPE: unique symbol = Symbol('berth.goType');
const GO_MARSHAL_JSON: unique symbol = Symbol('berth.goMarshalJSON');

export interface GoStructOptions {
  /** Like a Go MarshalJSON method: the value's JSON text, used by `json` instead of the fields. */
  marshalJSON?: () => string;
}

/**
 * Marks a copy of `fields` as a Go struct named `typeName` (e.g. "*formatter.ContainerContext"):
 * templates then report missing fields as errors instead of printing "<no value>".
 */
export function goStruct<T extends object>(typeName: string, fields: T, opts: GoStructOptions = {}): T {
  const copy = { ...fields };
  Object.defineProperty(copy, GO_TYPE, { value: typeName, enumerable: false });
  if (opts.marshalJSON) Object.defineProperty(copy, GO_MARSHAL_JSON, { value: opts.marshalJSON, enumerable: false });
  return copy;
}

export type GoKind = 'invalid' | 'nil' | 'bool' | 'int' | 'float' | 'string' | 'slice' | 'map' | 'struct' | 'func' | 'time';

const INT64_LIMIT = 2 ** 63;

export function kindOf(v: unknown): GoKind {
  if (v === undefined || v === NO_VALUE) return 'invalid';
  if (v === null) return 'nil';
  switch (typeof v) {
    case 'string': return 'string';
    case 'boolean': return 'bool';
    case 'bigint': return 'int';
    case 'number': return Number.isInteger(v) && Math.abs(v) < INT64_LIMIT ? 'int' : 'float';
    case 'function': return 'func';
    case 'symbol': return 'invalid';
    default: break;
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return 'slice';
  if (v instanceof Date) return 'time';
  if (v instanceof Map) return 'map';
  if (GO_TYPE in (v as object)) return 'struct';
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null ? 'map' : 'struct';
}

export function isStringSlice(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function sliceItems(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
  return [];
}

/** Go's byte-wise string order (code point order), as fmtsort and encoding/json use. */
export function goStringCompare(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1; // a surrogate (astral) sorts after any BMP code unit
    return ca - cb;
  }
  return a.length - b.length;
}

/** A Go map's entries, keys sorted as fmt, range and encoding/json see them. */
export function mapEntries(v: unknown): [string, unknown][] {
  let entries: [string, unknown][];
  if (v instanceof Map) entries = [...(v as Map<unknown, unknown>)].map(([k, x]) => [String(k), x]);
  else entries = Object.entries(v as Record<string, unknown>);
  return entries.filter(([, x]) => x !== undefined).sort((a, b) => goStringCompare(a[0], b[0]));
}

/** A Go map's size. */
export function mapSize(v: unknown): number {
  return mapEntries(v).length;
}

export function isStringMap(v: unknown): boolean {
  return mapEntries(v).every(([, x]) => typeof x === 'string');
}

/** A struct's data fields in declaration order (function-valued members are methods). */
export function structFields(v: object): [string, unknown][] {
  return Object.entries(v).filter(([, x]) => typeof x !== 'function');
}

/** Looks a key up in a Go map: NO_VALUE when absent. */
export function mapLookup(v: unknown, key: string): unknown {
  if (v instanceof Map) {
    const m = v as Map<unknown, unknown>;
    return m.has(key) && m.get(key) !== undefined ? m.get(key) : NO_VALUE;
  }
  const o = v as Record<string, unknown>;
  return Object.hasOwn(o, key) && o[key] !== undefined ? o[key] : NO_VALUE;
}

/** Whether a struct has a field or method of that name (own or inherited, not Object's). */
export function structHas(v: object, name: string): boolean {
  for (let o: object | null = v; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    if (Object.hasOwn(o, name)) return true;
  }
  return false;
}

export function structTypeName(v: object): string {
  const tagged = (v as { [GO_TYPE]?: string })[GO_TYPE];
  if (tagged !== undefined) return tagged;
  const ctor = (v as { constructor?: { name?: string } }).constructor;
  return `*${ctor?.name || 'struct {}'}`;
}

/** Go's reflect type name of a value, as fmt's %T and template errors print it. */
export function goTypeName(v: unknown): string {
  switch (kindOf(v)) {
    case 'invalid': case 'nil': return 'interface {}';
    case 'bool': return 'bool';
    case 'int': return 'int';
    case 'float': return 'float64';
    case 'string': return 'string';
    case 'slice':
      if (v instanceof Uint8Array) return '[]uint8';
      return isStringSlice(v) && (v as unknown[]).length > 0 ? '[]string' : '[]interface {}';
    case 'map': {
      const e = mapEntries(v);
      return e.length > 0 && e.every(([, x]) => typeof x === 'string') ? 'map[string]string' : 'map[string]interface {}';
    }
    case 'struct': return structTypeName(v as object);
    case 'func': return 'func()';
    case 'time': return 'time.Time';
  }
}

// ---------------------------------------------------------------- strings

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** strconv.IsPrint. */
export function isGoPrint(cp: number): boolean {
  if (cp < 0x20 || cp === 0x7f) return false;
  if (cp < 0x7f) return true;
  return PRINTABLE.test(String.fromCodePoint(cp));
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function escapeRune(cp: number, quote: string, asciiOnly: boolean): string {
  const ch = String.fromCodePoint(cp);
  if (ch === quote || ch === '\\') return '\\' + ch;
  if (asciiOnly ? cp < 0x80 && isGoPrint(cp) : isGoPrint(cp)) return ch;
  switch (cp) {
    case 0x07: return '\\a';
    case 0x08: return '\\b';
    case 0x0c: return '\\f';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    case 0x0b: return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return '\\x' + hex(cp, 2);
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x10000) return '\\u' + hex(cp, 4);
  return '\\U' + hex(cp, 8);
}

/** strconv.Quote (or QuoteToASCII). */
export function goQuote(s: string, asciiOnly = false): string {
  let out = '"';
  for (const ch of s) out += escapeRune(ch.codePointAt(0) as number, '"', asciiOnly);
  return out + '"';
}

/** strconv.QuoteRune (or QuoteRuneToASCII). */
export function goQuoteRune(cp: number, asciiOnly = false): string {
  if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
  return "'" + escapeRune(cp, "'", asciiOnly) + "'";
}

/** strconv.CanBackquote. */
function canBackquote(s: string): boolean {
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '`' || cp === 0xfeff || (cp < 0x20 && cp !== 0x09) || cp === 0x7f) return false;
  }
  return true;
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// ---------------------------------------------------------------- numbers

/** A decimal: value = 0.d × 10^dp, d without trailing zeros ("" for zero). */
interface Decimal { d: string; dp: number }

function trimZeros(dec: Decimal): Decimal {
  const d = dec.d.replace(/0+$/, '');
  return d === '' ? { d: '', dp: 0 } : { d, dp: dec.dp };
}

/** The shortest digits that read back as x (x finite, ≥ 0); Go and JavaScript agree on these. */
function shortestDecimal(x: number): Decimal {
  if (x === 0) return { d: '', dp: 0 };
  const [m, e] = x.toExponential().split('e');
  return trimZeros({ d: m.replace('.', ''), dp: Number(e) + 1 });
}

/** The exact decimal value of x (x finite, ≥ 0). */
function exactDecimal(x: number): Decimal {
  if (x === 0) return { d: '', dp: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp: number;
  if (biased === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = biased - 1075;
  }
  if (exp >= 0) {
    const d = (mant << BigInt(exp)).toString();
    return trimZeros({ d, dp: d.length });
  }
  const d = (mant * 5n ** BigInt(-exp)).toString();
  return trimZeros({ d, dp: d.length + exp });
}

/** Rounds to nd significant digits, half to even on exact ties (Go's decimal.Round). */
function roundDecimal(dec: Decimal, nd: number): Decimal {
  if (nd < 0) return { d: '', dp: 0 };
  if (nd >= dec.d.length) return dec;
  const digit = dec.d.charCodeAt(nd) - 48;
  let up: boolean;
  if (digit === 5 && nd + 1 === dec.d.length) up = nd > 0 && (dec.d.charCodeAt(nd - 1) - 48) % 2 === 1;
  else up = digit >= 5;
  if (!up) return trimZeros({ d: dec.d.slice(0, nd), dp: dec.dp });
  for (let i = nd - 1; i >= 0; i--) {
    const c = dec.d.charCodeAt(i);
    if (c < 57) return trimZeros({ d: dec.d.slice(0, i) + String.fromCharCode(c + 1), dp: dec.dp });
  }
  return { d: '1', dp: dec.dp + 1 };
}

function fmtE(neg: boolean, dec: Decimal, prec: number, e: string): string {
  let s = neg ? '-' : '';
  s += dec.d.length === 0 ? '0' : dec.d[0];
  if (prec > 0) {
    s += '.';
    const frac = dec.d.slice(1, Math.min(dec.d.length, prec + 1));
    s += frac + '0'.repeat(prec - frac.length);
  }
  s += e;
  let exp = dec.d.length === 0 ? 0 : dec.dp - 1;
  s += exp < 0 ? '-' : '+';
  exp = Math.abs(exp);
  return s + (exp < 10 ? '0' + exp : String(exp));
}

function fmtF(neg: boolean, dec: Decimal, prec: number): string {
  let s = neg ? '-' : '';
  if (dec.dp > 0) {
    const m = Math.min(dec.d.length, dec.dp);
    s += dec.d.slice(0, m) + '0'.repeat(dec.dp - m);
  } else s += '0';
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) {
      const j = dec.dp + i - 1;
      s += j >= 0 && j < dec.d.length ? dec.d[j] : '0';
    }
  }
  return s;
}

/** strconv.FormatFloat(x, fmt, prec, 64) for fmt in e E f g G; prec < 0 means shortest. */
export function formatFloat(x: number, fmt: 'e' | 'E' | 'f' | 'g' | 'G', prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  const shortest = prec < 0;
  let dec: Decimal;
  if (shortest) {
    dec = shortestDecimal(a);
    prec = fmt === 'e' || fmt === 'E' ? dec.d.length - 1 : fmt === 'f' ? Math.max(dec.d.length - dec.dp, 0) : dec.d.length;
  } else {
    dec = exactDecimal(a);
    if (fmt === 'e' || fmt === 'E') dec = roundDecimal(dec, prec + 1);
    else if (fmt === 'f') dec = roundDecimal(dec, dec.dp + prec);
    else {
      if (prec === 0) prec = 1;
      dec = roundDecimal(dec, prec);
    }
  }
  if (fmt === 'e' || fmt === 'E') return fmtE(neg, dec, prec, fmt);
  if (fmt === 'f') return fmtF(neg, dec, prec);
  let eprec = prec;
  const nd = dec.d.length;
  if (eprec > nd && nd >= dec.dp) eprec = nd;
  if (shortest) eprec = 6;
  const exp = dec.dp - 1;
  if (exp < -4 || exp >= eprec) {
    if (prec > nd) prec = nd;
    return fmtE(neg, dec, prec - 1, fmt === 'g' ? 'e' : 'E');
  }
  if (prec > dec.dp) prec = nd;
  return fmtF(neg, dec, Math.max(prec - dec.dp, 0));
}

function toBigInt(v: unknown): bigint {
  return typeof v === 'bigint' ? v : BigInt(v as number);
}

// ---------------------------------------------------------------- time

/** Go's time.Time.String() for a UTC time: "2026-11-22 15:41:01.5 +0000 UTC". */
export function goTimeString(d: Date): string {
  const iso = d.toISOString(); // 2026-11-22T15:41:01.500Z
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? '.' + frac : ''} +0000 UTC`;
}

function goTimeRFC3339Nano(d: Date): string {
  const iso = d.toISOString();
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? '.' + frac : ''}Z`;
}

// ---------------------------------------------------------------- fmt

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  plusV: boolean;
  sharpV: boolean;
  wid: number;
  widPresent: boolean;
  prec: number;
  precPresent: boolean;
}

function newFlags(): Flags {
  return { plus: false, minus: false, sharp: false, space: false, zero: false, plusV: false, sharpV: false, wid: 0, widPresent: false, prec: 0, precPresent: false };
}

/** A Go fmt "pp": formats one verb at a time into buf. */
class Printer {
  buf = '';
  f: Flags = newFlags();

  private padding(n: number): string {
    return n > 0 ? (this.f.zero ? '0' : ' ').repeat(n) : '';
  }

  pad(s: string): void {
    if (!this.f.widPresent || this.f.wid === 0) {
      this.buf += s;
      return;
    }
    const w = this.f.wid - runeCount(s);
    if (this.f.minus) this.buf += s + ' '.repeat(Math.max(0, w));
    else this.buf += this.padding(w) + s;
  }

  private truncate(s: string): string {
    if (this.f.precPresent) return [...s].slice(0, this.f.prec).join('');
    return s;
  }

  private badVerb(verb: string, arg: unknown): void {
    this.buf += '%!' + verb + '(';
    if (arg === null || arg === undefined || arg === NO_VALUE) this.buf += '<nil>';
    else {
      this.buf += goTypeName(arg) + '=';
      const saved = this.f;
      this.f = newFlags();
      this.printArg(arg, 'v', 0);
      this.f = saved;
    }
    this.buf += ')';
  }

  private fmtInteger(n: bigint, base: number, verb: string): void {
    const f = this.f;
    const negative = n < 0n;
    let digits = (negative ? -n : n).toString(base);
    if (verb === 'X') digits = digits.toUpperCase();
    let prec = 0;
    if (f.precPresent) {
      prec = f.prec;
      if (prec === 0 && n === 0n) {
        const oldZero = f.zero;
        f.zero = false;
        this.buf += this.padding(f.wid);
        f.zero = oldZero;
        return;
      }
    } else if (f.zero && f.widPresent) {
      prec = f.wid;
      if (negative || f.plus || f.space) prec--;
    }
    if (digits.length < prec) digits = '0'.repeat(prec - digits.length) + digits;
    if (f.sharp) {
      if (base === 2) digits = '0b' + digits;
      else if (base === 8 && digits[0] !== '0') digits = '0' + digits;
      else if (base === 16) digits = (verb === 'X' ? '0X' : '0x') + digits;
    }
    if (verb === 'O') digits = '0o' + digits;
    if (negative) digits = '-' + digits;
    else if (f.plus) digits = '+' + digits;
    else if (f.space) digits = ' ' + digits;
    const oldZero = f.zero;
    f.zero = false;
    this.pad(digits);
    f.zero = oldZero;
  }

  private fmtUnicode(n: bigint): void {
    const f = this.f;
    let s = (n < 0n ? -n : n).toString(16).toUpperCase();
    const prec = f.precPresent && f.prec > 4 ? f.prec : 4;
    if (s.length < prec) s = '0'.repeat(prec - s.length) + s;
    s = (n < 0n ? '-' : '') + 'U+' + s;
    const cp = Number(n);
    if (f.sharp && cp >= 0 && cp <= 0x10ffff && isGoPrint(cp)) s += " '" + String.fromCodePoint(cp) + "'";
    const oldZero = f.zero;
    f.zero = false;
    this.pad(s);
    f.zero = oldZero;
  }

  private runeOf(n: bigint): number {
    const cp = Number(n);
    return cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0xfffd : cp;
  }

  private printInt(v: unknown, verb: string): void {
    const n = toBigInt(v);
    switch (verb) {
      case 'v': if (this.f.sharpV) { this.fmtInteger(n, 10, 'd'); return; } this.fmtInteger(n, 10, verb); return;
      case 'd': this.fmtInteger(n, 10, verb); return;
      case 'b': this.fmtInteger(n, 2, verb); return;
      case 'o': case 'O': this.fmtInteger(n, 8, verb); return;
      case 'x': case 'X': this.fmtInteger(n, 16, verb); return;
      case 'c': this.pad(String.fromCodePoint(this.runeOf(n))); return;
      case 'q': this.pad(goQuoteRune(this.runeOf(n), this.f.plus)); return;
      case 'U': this.fmtUnicode(n); return;
      default: this.badVerb(verb, v);
    }
  }

  private fmtFloat(x: number, verb: 'e' | 'E' | 'f' | 'g' | 'G', defPrec: number): void {
    const f = this.f;
    const prec = f.precPresent ? f.prec : defPrec;
    let num = formatFloat(x, verb, prec);
    if (num[0] !== '-' && num[0] !== '+') num = '+' + num;
    if (f.space && num[0] === '+' && !f.plus) num = ' ' + num.slice(1);
    if (num[1] === 'I' || num[1] === 'N') {
      const oldZero = f.zero;
      f.zero = false;
      if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1);
      this.pad(num);
      f.zero = oldZero;
      return;
    }
    if (f.sharp) {
      // %#g etc.: always a decimal point, trailing zeros kept up to the precision.
      let digits = verb === 'g' || verb === 'G' ? (prec === -1 ? 6 : prec) : 0;
      let tail = '';
      let hasPoint = false;
      let sawNonzero = false;
      for (let i = 1; i < num.length; i++) {
        const c = num[i];
        if (c === '.') hasPoint = true;
        else if (c === 'e' || c === 'E') {
          tail = num.slice(i);
          num = num.slice(0, i);
          break;
        } else {
          if (c !== '0') sawNonzero = true;
          if (sawNonzero) digits--;
        }
      }
      if (!hasPoint) {
        if (num.length === 2 && num[1] === '0') digits--;
        num += '.';
      }
      if (digits > 0) num += '0'.repeat(digits);
      num += tail;
    }
    if (f.plus || num[0] !== '+') {
      if (f.zero && f.widPresent && f.wid > num.length) {
        this.buf += num[0] + '0'.repeat(f.wid - num.length) + num.slice(1);
        return;
      }
      this.pad(num);
      return;
    }
    this.pad(num.slice(1));
  }

  private printFloat(x: number, verb: string): void {
    switch (verb) {
      case 'v': this.fmtFloat(x, 'g', -1); return;
      case 'g': case 'G': this.fmtFloat(x, verb, -1); return;
      case 'e': case 'E': case 'f': this.fmtFloat(x, verb, 6); return;
      case 'F': this.fmtFloat(x, 'f', 6); return;
      default: this.badVerb(verb, x);
    }
  }

  private fmtSx(s: string, digits: string): void {
    const f = this.f;
    let bytes = Buffer.from(s, 'utf8');
    if (f.precPresent && f.prec < bytes.length) bytes = bytes.subarray(0, f.prec);
    let out = '';
    bytes.forEach((b, i) => {
      if (f.space && i > 0) out += ' ';
      if (f.sharp && (f.space || i === 0)) out += digits === 'X' ? '0X' : '0x';
      const h = b.toString(16).padStart(2, '0');
      out += digits === 'X' ? h.toUpperCase() : h;
    });
    this.pad(out);
  }

  private printString(s: string, verb: string): void {
    switch (verb) {
      case 'v':
        if (this.f.sharpV) this.pad(goQuote(s));
        else this.pad(this.truncate(s));
        return;
      case 's': this.pad(this.truncate(s)); return;
      case 'x': case 'X': this.fmtSx(s, verb); return;
      case 'q': {
        const t = this.truncate(s);
        if (this.f.sharp && canBackquote(t)) this.pad('`' + t + '`');
        else this.pad(goQuote(t, this.f.plus));
        return;
      }
      default: this.badVerb(verb, s);
    }
  }

  printArg(arg: unknown, verb: string, depth: number): void {
    if (arg === null || arg === undefined || arg === NO_VALUE) {
      if (verb === 'T' || verb === 'v') this.pad('<nil>');
      else this.badVerb(verb, null);
      return;
    }
    if (verb === 'T') {
      this.pad(goTypeName(arg));
      return;
    }
    if (verb === 'p') {
      this.badVerb(verb, arg);
      return;
    }
    switch (kindOf(arg)) {
      case 'bool':
        if (verb === 't' || verb === 'v') this.pad(arg ? 'true' : 'false');
        else this.badVerb(verb, arg);
        return;
      case 'int': this.printInt(arg, verb); return;
      case 'float': this.printFloat(arg as number, verb); return;
      case 'string': this.printString(arg as string, verb); return;
      case 'time': {
        // time.Time is a fmt.Stringer.
        if (verb === 'v' || verb === 's' || verb === 'q' || verb === 'x' || verb === 'X') this.printString(goTimeString(arg as Date), verb);
        else this.badVerb(verb, arg);
        return;
      }
      case 'slice': {
        const items = sliceItems(arg);
        if (this.f.sharpV) {
          this.buf += goTypeName(arg) + '{';
          items.forEach((x, i) => {
            if (i > 0) this.buf += ', ';
            this.printArg(x, verb, depth + 1);
          });
          this.buf += '}';
          return;
        }
        this.buf += '[';
        items.forEach((x, i) => {
          if (i > 0) this.buf += ' ';
          this.printArg(x, verb, depth + 1);
        });
        this.buf += ']';
        return;
      }
      case 'map': {
        const entries = mapEntries(arg);
        this.buf += this.f.sharpV ? goTypeName(arg) + '{' : 'map[';
        entries.forEach(([k, x], i) => {
          if (i > 0) this.buf += this.f.sharpV ? ', ' : ' ';
          this.printArg(k, verb, depth + 1);
          this.buf += ':';
          this.printArg(x, verb, depth + 1);
        });
        this.buf += this.f.sharpV ? '}' : ']';
        return;
      }
      case 'struct': {
        const o = arg as Record<string, unknown>;
        if (typeof o.String === 'function' && (o.String as () => unknown).length === 0 && !this.f.sharpV && (verb === 'v' || verb === 's' || verb === 'q')) {
          this.printString(String((o.String as () => unknown).call(o)), verb);
          return;
        }
        if (this.f.sharpV) this.buf += structTypeName(o).replace(/^\*/, '&');
        this.buf += '{';
        structFields(o).forEach(([k, x], i) => {
          if (i > 0) this.buf += this.f.sharpV ? ', ' : ' ';
          if (this.f.plusV || this.f.sharpV) this.buf += k + ':';
          this.printArg(x, verb, depth + 1);
        });
        this.buf += '}';
        return;
      }
      case 'func':
        if (verb === 'v') this.buf += this.f.sharpV ? '(func())(nil)' : '0x0';
        else this.badVerb(verb, arg);
        return;
      case 'invalid': case 'nil':
        this.pad('<nil>');
    }
  }
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function goSprint(args: readonly unknown[]): string {
  const p = new Printer();
  let prevString = false;
  args.forEach((arg, i) => {
    const isString = typeof arg === 'string';
    if (i > 0 && !isString && !prevString) p.buf += ' ';
    p.f = newFlags();
    p.printArg(arg, 'v', 0);
    prevString = isString;
  });
  return p.buf;
}

/** fmt.Sprintln: spaces between all operands, newline at the end. */
export function goSprintln(args: readonly unknown[]): string {
  const p = new Printer();
  args.forEach((arg, i) => {
    if (i > 0) p.buf += ' ';
    p.f = newFlags();
    p.printArg(arg, 'v', 0);
  });
  return p.buf + '\n';
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Parses a decimal number at i: [value, present, next index]; huge numbers are not present. */
function parseNum(s: string, i: number, end: number): [number, boolean, number] {
  if (i >= end || !isDigit(s[i])) return [0, false, i];
  let num = 0;
  let present = false;
  for (; i < end && isDigit(s[i]); i++) {
    num = num * 10 + (s.charCodeAt(i) - 48);
    if (num > 1e6) return [0, false, end];
    present = true;
  }
  return [num, present, i];
}

/** fmt.Sprintf with Go's verbs, flags, widths, precisions, argument indexes and error annotations. */
export function goSprintf(format: string, args: readonly unknown[]): string {
  const p = new Printer();
  const end = format.length;
  let argNum = 0;
  let afterIndex = false;
  let reordered = false;
  let goodArgNum = true;

  const argNumber = (i: number): number => {
    // returns new i; updates argNum / afterIndex / goodArgNum
    afterIndex = false;
    if (i >= end || format[i] !== '[') return i;
    reordered = true;
    if (end - i < 3) {
      goodArgNum = false;
      return i + 1;
    }
    for (let j = i + 1; j < end; j++) {
      if (format[j] === ']') {
        const [n, ok, ni] = parseNum(format, i + 1, j);
        if (!ok || ni !== j) {
          goodArgNum = false;
          return j + 1;
        }
        const index = n - 1;
        if (index >= 0 && index < args.length) {
          argNum = index;
          afterIndex = true;
          return j + 1;
        }
        goodArgNum = false;
        afterIndex = true;
        return j + 1;
      }
    }
    goodArgNum = false;
    return i + 1;
  };

  const intFromArg = (): [number, boolean] => {
    let num = 0;
    let isInt = false;
    if (argNum < args.length) {
      const a = args[argNum];
      if (kindOf(a) === 'int') {
        num = Number(a);
        isInt = true;
      }
      argNum++;
      if (num > 1e6 || num < -1e6) {
        num = 0;
        isInt = false;
      }
    }
    return [num, isInt];
  };

  let i = 0;
  while (i < end) {
    goodArgNum = true;
    const lasti = i;
    while (i < end && format[i] !== '%') i++;
    if (i > lasti) p.buf += format.slice(lasti, i);
    if (i >= end) break;
    i++; // skip %
    p.f = newFlags();
    const f = p.f;
    flags: for (; i < end; i++) {
      switch (format[i]) {
        case '#': f.sharp = true; break;
        case '0': f.zero = !f.minus; break;
        case '+': f.plus = true; break;
        case '-': f.minus = true; f.zero = false; break;
        case ' ': f.space = true; break;
        default: break flags;
      }
    }
    i = argNumber(i);
    if (i < end && format[i] === '*') {
      i++;
      [f.wid, f.widPresent] = intFromArg();
      if (!f.widPresent) p.buf += '%!(BADWIDTH)';
      if (f.wid < 0) {
        f.wid = -f.wid;
        f.minus = true;
        f.zero = false;
      }
      afterIndex = false;
    } else {
      [f.wid, f.widPresent, i] = parseNum(format, i, end);
      if (afterIndex && f.widPresent) goodArgNum = false;
    }
    if (i + 1 <= end && format[i] === '.') {
      i++;
      if (afterIndex) goodArgNum = false;
      i = argNumber(i);
      if (i < end && format[i] === '*') {
        i++;
        [f.prec, f.precPresent] = intFromArg();
        if (f.prec < 0) {
          f.prec = 0;
          f.precPresent = false;
        }
        if (!f.precPresent) p.buf += '%!(BADPREC)';
        afterIndex = false;
      } else {
        [f.prec, f.precPresent, i] = parseNum(format, i, end);
        if (!f.precPresent) {
          f.prec = 0;
          f.precPresent = true;
        }
      }
    }
    if (!afterIndex) i = argNumber(i);
    if (i >= end) {
      p.buf += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i) as number);
    i += verb.length;
    if (verb === '%') {
      p.buf += '%';
    } else if (!goodArgNum) {
      p.buf += `%!${verb}(BADINDEX)`;
    } else if (argNum >= args.length) {
      p.buf += `%!${verb}(MISSING)`;
    } else {
      if (verb === 'v') {
        f.sharpV = f.sharp;
        f.sharp = false;
        f.plusV = f.plus;
        f.plus = false;
      }
      p.printArg(args[argNum], verb, 0);
      argNum++;
    }
  }
  if (!reordered && argNum < args.length) {
    p.f = newFlags();
    p.buf += '%!(EXTRA ';
    args.slice(argNum).forEach((arg, k) => {
      if (k > 0) p.buf += ', ';
      if (arg === null || arg === undefined || arg === NO_VALUE) p.buf += '<nil>';
      else {
        p.buf += goTypeName(arg) + '=';
        p.printArg(arg, 'v', 0);
      }
    });
    p.buf += ')';
  }
  return p.buf;
}

/** What Go's fmt.Fprint writes for one value ("<no value>" for an invalid one, as text/template prints it). */
export function goPrintValue(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  return goSprint([v]);
}

// ---------------------------------------------------------------- encoding/json

export class GoJSONError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoJSONError';
  }
}

export interface GoJSONOptions {
  /** json.Marshal escapes < > & as \u003c \u003e \u0026; an Encoder with SetEscapeHTML(false) does not. */
  escapeHTML: boolean;
  /** Key order of maps (plain objects): Go sorts map keys; 'insertion' keeps the data's order. */
  keyOrder?: 'sorted' | 'insertion';
}

function escapeHTMLText(s: string): string {
  return s.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

function jsonString(s: string, escapeHTML: boolean): string {
  const q = JSON.stringify(s.toWellFormed()).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return escapeHTML ? escapeHTMLText(q) : q;
}

function jsonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new GoJSONError(`json: unsupported value: ${formatFloat(x, 'g', -1)}`);
  if (Object.is(x, -0)) return '-0';
  return String(x); // same digits and exponent thresholds as Go (1e-6 ≤ |x| < 1e21 in fixed notation)
}

/** encoding/json's encoding of a value (compact); throws GoJSONError for unsupported values. */
export function goJSON(v: unknown, opts: GoJSONOptions): string {
  switch (kindOf(v)) {
    case 'invalid': case 'nil': return 'null';
    case 'bool': return v ? 'true' : 'false';
    case 'int': return typeof v === 'bigint' ? v.toString() : Object.is(v, -0) ? '0' : String(v);
    case 'float': return jsonFloat(v as number);
    case 'string': return jsonString(v as string, opts.escapeHTML);
    case 'time': return jsonString(goTimeRFC3339Nano(v as Date), false);
    case 'slice':
      if (v instanceof Uint8Array) return '"' + Buffer.from(v).toString('base64') + '"';
      return '[' + sliceItems(v).map((x) => goJSON(x, opts)).join(',') + ']';
    case 'map': {
      const entries = opts.keyOrder === 'insertion' && !(v instanceof Map)
        ? Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined)
        : mapEntries(v);
      return '{' + entries.map(([k, x]) => jsonString(k, opts.escapeHTML) + ':' + goJSON(x, opts)).join(',') + '}';
    }
    case 'struct': {
      const o = v as Record<string | symbol, unknown>;
      const marshal = o[GO_MARSHAL_JSON];
      if (typeof marshal === 'function') {
        const text = String((marshal as () => unknown).call(o));
        return opts.escapeHTML ? escapeHTMLText(text) : text;
      }
      const fields = structFields(o as Record<string, unknown>).filter(([k, x]) => x !== undefined && /^\p{Lu}/u.test(k));
      return '{' + fields.map(([k, x]) => jsonString(k, opts.escapeHTML) + ':' + goJSON(x, opts)).join(',') + '}';
    }
    case 'func': throw new GoJSONError('json: unsupported type: func()');
  }
}
