// The tar format's blocks, written byte-exactly: ustar headers, binary-safe
// PAX extended headers (xattr values are bytes, not UTF-8) and the end
// marker. Shared by the daemon's tar writers and the CLI's.

const BLOCK = 512;

export interface UstarFields {
  /** At most 100 bytes of ASCII (a longer or non-ASCII name goes in a PAX record first). */
  name: string;
  type: 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  /** Seconds, 0 to 2^33-1. */
  mtime: number;
  size?: number;
  /** At most 100 bytes of ASCII. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const TYPEFLAG: Record<UstarFields['type'], number> = {
  file: 0x30, link: 0x31, symlink: 0x32, 'character-device': 0x33, 'block-device': 0x34, directory: 0x35, fifo: 0x36,
};

/** Writes `value` as `width - 1` octal digits and a NUL (values too wide are the caller's to put in PAX). */
function octalNul(b: Buffer, off: number, width: number, value: number): void {
  b.write(Math.max(0, Math.floor(value)).toString(8).padStart(width - 1, '0').slice(-(width - 1)), off, width - 1, 'latin1');
  b[off + width - 1] = 0;
}

/** A ustar header block (POSIX.1-1988, as tar(1) writes one): `into` is filled from `off`. */
export function ustarHeader(f: UstarFields, into: Buffer = Buffer.alloc(BLOCK), off = 0): Buffer {
  const b = into.subarray(off, off + BLOCK);
  b.fill(0);
  if (Buffer.byteLength(f.name) > 100 || Buffer.byteLength(f.linkname ?? '') > 100) throw new RangeError(`tar header: name longer than 100 bytes: ${f.name}`);
  b.write(f.name, 0, 100, 'utf8');
  octalNul(b, 100, 8, f.mode & 0o7777);
  octalNul(b, 108, 8, f.uid);
  octalNul(b, 116, 8, f.gid);
  const size = f.size ?? 0;
  if (size < 0o77777777777) {
    octalNul(b, 124, 12, size);
  } else {
    // GNU base-256 for sizes of 8 GiB and more, as tar(1) and Go's archive/tar read it.
    b[124] = 0x80;
    let n = size;
    for (let i = 11; i > 0; i--) {
      b[124 + i] = n % 256;
      n = Math.floor(n / 256);
    }
  }
  octalNul(b, 136, 12, f.mtime);
  b[156] = TYPEFLAG[f.type];
  if (f.linkname) b.write(f.linkname, 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 8, 'latin1');
  octalNul(b, 329, 8, f.devmajor ?? 0);
  octalNul(b, 337, 8, f.devminor ?? 0);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  octalNul(b, 148, 7, sum);
  b[155] = 0x20;
  return b;
}

/** The two zero blocks that end a tar. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** Encodes PAX records (keys UTF-8, values raw bytes). */
export function encodePaxRecords(records: Iterable<[string, Buffer | string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), typeof value === 'string' ? Buffer.from(value, 'utf8') : value, Buffer.from('\n')]);
    // The length prefix counts its own digits.
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.from(String(len), 'latin1'), body);
  }
  return Buffer.concat(parts);
}

function octal(buf: Buffer, off: number, width: number, value: number): void {
  // width includes the terminating NUL.
  buf.write(value.toString(8).padStart(width - 1, '0'), off, width - 1, 'latin1');
}

/**
 * A ustar header block for a PAX extended header (typeflag 'x') whose body is
 * `size` bytes. tar-stream's packer can only write UTF-8 PAX values, so the
 * binary-safe ones are written with this.
 */
export function paxHeaderBlock(name: string, size: number, mtimeSec: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name.slice(0, 99), 0, 100, 'latin1');
  octal(b, 100, 8, 0o644);
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, Math.max(0, Math.min(mtimeSec, 0o77777777777)));
  b.fill(0x20, 148, 156);
  b[156] = 0x78; // 'x'
  b.write('ustar\x0000', 257, 8, 'latin1');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\x00 ', 148, 8, 'latin1');
  return b;
}


/** True when `s` fits a ustar name field as is (at most 100 bytes of ASCII). */
export function fitsUstar(s: string): boolean {
  return s.length <= 100 && /^[\x00-\x7f]*$/.test(s);
}

/** An ASCII stand-in of at most 100 bytes for a name whose real one travels in a PAX record. */
export function ustarPlaceholder(name: string): string {
  const dir = name.endsWith('/');
  let s = name.replace(/[^\x20-\x7e]/g, '_');
  if (s.length > 100) s = s.slice(0, dir ? 99 : 100) + (dir ? '/' : '');
  return s;
}

/** A whole PAX extended header entry (its header block, records and padding) for the entry that follows it. */
export function paxEntry(records: Array<[string, Buffer | string]>, name: string, mtimeSec: number): Buffer {
  const body = encodePaxRecords(records);
  const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
  const base = ustarPlaceholder(name.replace(/\/+$/, '').split('/').pop() ?? '').slice(0, 80);
  return Buffer.concat([paxHeaderBlock(`PaxHeaders/${base}`, body.length, mtimeSec), body, Buffer.alloc(pad)]);
}
