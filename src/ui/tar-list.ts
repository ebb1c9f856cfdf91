// The headers of a tar read as it streams in (the archive API's GET of a
// directory), file bodies skipped as they pass: enough to list a directory
// without holding its bytes. ustar names with their prefix, GNU long names
// and links ('L', 'K'), and pax path/linkpath/size/mtime are understood.

export interface TarEntry {
  name: string;
  /** The typeflag: '0' file, '5' directory, '2' symlink, '1' hard link, … */
  type: string;
  size: number;
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname: string;
}

const dec = new TextDecoder();

function text(h: Uint8Array, offset: number, length: number): string {
  const s = h.subarray(offset, offset + length);
  const end = s.indexOf(0);
  return dec.decode(end >= 0 ? s.subarray(0, end) : s);
}

function octal(h: Uint8Array, offset: number, length: number): number {
  // GNU's base-256 for large numbers: the first byte's high bit set.
  if (h[offset] & 0x80) {
    let n = 0;
    for (let i = offset + 1; i < offset + length; i++) n = n * 256 + h[i];
    return n;
  }
  const s = text(h, offset, length).trim();
  return s ? parseInt(s, 8) : 0;
}

/** "N key=value\n" records; N counts bytes, so they are cut from the bytes, not the decoded text. */
function paxRecords(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(dec.decode(body.subarray(at, space)));
    if (!(len > 0) || at + len > body.length) break;
    const rec = dec.decode(body.subarray(space + 1, at + len - 1));
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    at += len;
  }
  return out;
}

const padded = (n: number): number => Math.ceil(n / 512) * 512;

export class TarLister {
  private buf: Uint8Array = new Uint8Array(0);
  private skip = 0;
  private meta: { type: string; size: number } | undefined;
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;
  /** The end-of-archive block was read. */
  done = false;

  /** Feeds the next bytes; `each` gets every entry whose header they complete. */
  push(chunk: Uint8Array, each: (e: TarEntry) => void): void {
    if (this.done) return;
    if (this.buf.length === 0) this.buf = chunk;
    else {
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf);
      joined.set(chunk, this.buf.length);
      this.buf = joined;
    }
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.length);
        this.skip -= n;
        this.buf = this.buf.subarray(n);
        if (this.skip > 0) return;
      }
      if (this.meta) {
        const need = padded(this.meta.size);
        if (this.buf.length < need) return;
        const body = this.buf.subarray(0, this.meta.size);
        if (this.meta.type === 'x') Object.assign(this.pax, paxRecords(body));
        else if (this.meta.type === 'L') this.longName = text(body, 0, body.length);
        else if (this.meta.type === 'K') this.longLink = text(body, 0, body.length);
        this.buf = this.buf.subarray(need);
        this.meta = undefined;
        continue;
      }
      if (this.buf.length < 512) return;
      const h = this.buf.subarray(0, 512);
      this.buf = this.buf.subarray(512);
      if (h.every((b) => b === 0)) {
        this.done = true;
        return;
      }
      const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]);
      const size = octal(h, 124, 12);
      if (type === 'x' || type === 'L' || type === 'K') {
        this.meta = { type, size };
        continue;
      }
      if (type === 'g') {
        this.skip = padded(size);
        continue;
      }
      const prefix = text(h, 345, 155);
      const name = this.pax.path ?? this.longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
      const realSize = this.pax.size !== undefined ? Number(this.pax.size) : size;
      each({
        name,
        type,
        size: realSize,
        mode: octal(h, 100, 8),
        mtime: this.pax.mtime !== undefined ? Number(this.pax.mtime) : octal(h, 136, 12),
        linkname: this.pax.linkpath ?? this.longLink ?? text(h, 157, 100),
      });
      this.pax = {};
      this.longName = undefined;
      this.longLink = undefined;
      // Links and directories carry no body whatever their size field says.
      this.skip = type === '0' || type === '7' ? padded(realSize) : 0;
    }
  }
}

/**
 * The direct children of the directory a GET of the archive API sends: its
 * first entry is the directory itself (`tmp/`, or `/` for the root), each
 * child is that name and one more part.
 */
export function childrenOf(root: string | undefined, e: TarEntry): string | undefined {
  if (root === undefined) return undefined;
  const prefix = root.replace(/\/+$/, '') + '/';
  const name = e.name.replace(/\/+$/, '');
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return rest && !rest.includes('/') ? rest : undefined;
}
