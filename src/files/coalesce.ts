// Small chunks joined into large ones before they reach a socket or a file:
// a tar stream is a 512-byte header, a body and its padding per file, and
// writing each as it comes costs a system call (and an HTTP chunk) apiece.

const DEFAULT_MIN = 256 * 1024;

/** Yields the source's bytes in chunks of at least `min` bytes (the last may be smaller). */
export async function* coalesce(source: AsyncIterable<unknown>, min = DEFAULT_MIN): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const c of source) {
    let b: Buffer;
    if (Buffer.isBuffer(c)) b = c;
    else if (c instanceof Uint8Array) b = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    else if (typeof c === 'string') b = Buffer.from(c);
    else throw new TypeError('coalesce: a chunk that is not bytes');
    if (b.length === 0) continue;
    if (size === 0 && b.length >= min) {
      yield b;
      continue;
    }
    parts.push(b);
    size += b.length;
    if (size >= min) {
      yield parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
}
