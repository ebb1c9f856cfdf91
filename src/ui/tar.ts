// Just enough tar for the archive API from a browser: one regular file
// packed (ustar) for an upload, and the first regular file of a download.

const enc = new TextEncoder();

function field(h: Uint8Array, offset: number, length: number, value: string): void {
  h.set(enc.encode(value).subarray(0, length), offset);
}

const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0') + '\0';

/** A tar of one file, `name` (no slash, at most 100 bytes), mode 0644. */
export function tarOneFile(name: string, data: Uint8Array, mtime = Math.floor(Date.now() / 1000)): Uint8Array {
  if (!name || name.includes('/') || enc.encode(name).length > 100) throw new Error(`cannot upload a file named ${JSON.stringify(name)}`);
  const padded = Math.ceil(data.length / 512) * 512;
  const out = new Uint8Array(512 + padded + 1024);
  const h = out.subarray(0, 512);
  field(h, 0, 100, name);
  field(h, 100, 8, octal(0o644, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(data.length, 12));
  field(h, 136, 12, octal(mtime, 12));
  field(h, 148, 8, '        ');
  field(h, 156, 1, '0');
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  out.set(data, 512);
  return out;
}

function text(h: Uint8Array, offset: number, length: number): string {
  const s = h.subarray(offset, offset + length);
  const end = s.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? s.subarray(0, end) : s);
}

/** The first regular file of a tar: its name and bytes; undefined when it holds none first (a directory). */
export function firstFile(tar: Uint8Array): { name: string; data: Uint8Array } | undefined {
  let at = 0;
  let longName: string | undefined;
  while (at + 512 <= tar.length) {
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) return undefined;
    const size = parseInt(text(h, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156] || 0x30);
    const body = tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      // PAX: a long path comes as "N path=...\n".
      longName = /\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body))?.[1] ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = text(body, 0, body.length);
      continue;
    }
    if (type !== '0') return undefined;
    const prefix = text(h, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
    return { name, data: body };
  }
  return undefined;
}
