// The registry's HTTP wire details: body and range headers read defensively,
// paginated lists, and the JSON and empty answers every handler sends.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { lingerOnClose } from '../api/linger.ts';
import { RegistryError } from './errors.ts';

/** Largest list a single tags/catalog page returns. */
const MAX_PAGE = 1000;

export function contentLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Content-Range of an upload chunk: "start-end", inclusive (a "bytes " prefix is tolerated). */
export function parseContentRange(v: string | undefined): { start: number; end: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(v.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `invalid Content-Range ${JSON.stringify(v.slice(0, 100))}`);
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** A single byte range of a blob (RFC 9110); several ranges are answered with the whole blob. */
export function parseRange(v: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!v) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(v.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * Reads a whole body up to `limit` bytes; a larger body gets 413. What is
 * still coming is read and dropped until the client closes (lingerOnClose):
 * a reset would reach a client still writing before the answer does.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): RegistryError => {
    lingerOnClose(req.socket, 5_000);
    return new RegistryError(413, 'SIZE_INVALID', `body larger than the limit of ${limit} bytes`, { limit }, { Connection: 'close' });
  };
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    const err = tooLarge();
    req.resume();
    return Promise.reject(err);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total <= limit) {
        chunks.push(chunk);
        return;
      }
      // Not req.destroy() (nor a throw out of for-await, which calls it): that closes the socket under the answer.
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => { if (!req.complete) reject(new Error('aborted')); });
  });
}

export function paginate(all: string[], q: URLSearchParams): { items: string[]; next?: string; n: number } {
  const nRaw = q.get('n');
  const last = q.get('last');
  let n = MAX_PAGE;
  if (nRaw !== null) {
    if (!/^\d+$/.test(nRaw)) throw new RegistryError(400, 'PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer');
    n = Math.min(Number(nRaw), MAX_PAGE);
  }
  const from = last === null ? all : all.filter((x) => x > last);
  if (n === 0) return { items: [], n };
  const items = from.slice(0, n);
  const next = from.length > n ? items[items.length - 1] : undefined;
  return { items, next, n };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, method?: string): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(method === 'HEAD' ? undefined : text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  res.setHeader('Content-Length', 0);
  res.end();
}
