// The Engine API from the browser, through `berth ui`'s proxy (/api/ → the
// daemon). Errors carry the daemon's own message.
export const API = '/api/v1.51';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  let message = text.trim() || res.statusText;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    // plain text
  }
  return new ApiError(res.status, message);
}

function url(path: string, query?: Record<string, string | number | boolean | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) qs.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  const s = qs.toString();
  return `${API}${path}${s ? '?' + s : ''}`;
}

export async function request(method: string, path: string, o: { query?: Record<string, string | number | boolean | undefined>; body?: unknown } = {}): Promise<Response> {
  const res = await fetch(url(path, o.query), {
    method,
    headers: o.body !== undefined ? { 'Content-Type': 'application/json' } : {},
    body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
  });
  if (!res.ok) throw await failure(res);
  return res;
}

export async function call<T>(method: string, path: string, o: { query?: Record<string, string | number | boolean | undefined>; body?: unknown } = {}): Promise<T> {
  const res = await request(method, path, o);
  const text = await res.text();
  return (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined) as T;
}

/** A streamed response of JSON lines (events, stats, pull progress): each message, until `signal` aborts. */
export async function jsonLines<T>(path: string, query: Record<string, string | number | boolean | undefined>, each: (m: T) => void, signal: AbortSignal, method = 'GET', headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url(path, query), { method, signal, headers });
  if (!res.ok) throw await failure(res);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) each(JSON.parse(line) as T);
    }
  }
}

/**
 * A container's log stream: multiplexed frames (8-byte header: stream,
 * 0,0,0, big-endian size) unless the container has a tty, then raw bytes.
 */
export async function logStream(id: string, query: Record<string, string | number | boolean | undefined>, tty: boolean, each: (text: string, stream: number) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(url(`/containers/${id}/logs`, query), { signal });
  if (!res.ok) throw await failure(res);
  const reader = res.body!.getReader();
  const dec = [new TextDecoder(), new TextDecoder(), new TextDecoder()];
  let buf = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (tty) {
      each(dec[1].decode(value, { stream: true }), 1);
      continue;
    }
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    while (buf.length >= 8) {
      const size = new DataView(buf.buffer, buf.byteOffset).getUint32(4);
      if (buf.length < 8 + size) break;
      const stream = buf[0] === 2 ? 2 : 1;
      each(dec[stream].decode(buf.subarray(8, 8 + size), { stream: true }), stream);
      buf = buf.subarray(8 + size);
    }
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `name[:tag]` or `name@digest` as the pull API's fromImage and tag (latest when none). */
export function pullQuery(ref: string): { fromImage: string; tag: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { fromImage: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { fromImage: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { fromImage: ref, tag: 'latest' };
}

/** A tar body sent as-is (the archive API's PUT). */
export async function putTar(path: string, query: Record<string, string>, tar: Uint8Array): Promise<void> {
  const res = await fetch(url(path, query), { method: 'PUT', headers: { 'Content-Type': 'application/x-tar' }, body: tar as BodyInit });
  if (!res.ok) throw await failure(res);
}

/** A response's bytes, and one header (the archive API's stat). */
export async function getBytes(path: string, query: Record<string, string>, header: string): Promise<{ bytes: Uint8Array; header: string | null }> {
  const res = await fetch(url(path, query));
  if (!res.ok) throw await failure(res);
  return { bytes: new Uint8Array(await res.arrayBuffer()), header: res.headers.get(header) };
}

/** A response's bytes as they arrive (a directory's tar, listed as it streams), until `signal` aborts. */
export async function streamBytes(path: string, query: Record<string, string>, signal: AbortSignal, each: (chunk: Uint8Array) => boolean | void): Promise<void> {
  const res = await fetch(url(path, query), { signal });
  if (!res.ok) throw await failure(res);
  const reader = res.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    if (each(value) === false) {
      await reader.cancel();
      return;
    }
  }
}

/** HEAD: the response's status and one header (the archive API's stat); a failure's message is the daemon's, or the status. */
export async function head(path: string, query: Record<string, string>, header: string): Promise<string | null> {
  const res = await fetch(url(path, query), { method: 'HEAD' });
  if (!res.ok) throw new ApiError(res.status, res.statusText);
  return res.headers.get(header);
}

/**
 * X-Registry-Auth for a pull or push: the credentials as base64url JSON, as
 * the docker CLI sends them (none: no header, anonymous access).
 */
export function registryAuth(username: string, password: string, serveraddress: string): Record<string, string> {
  if (!username && !password) return {};
  const bin = String.fromCharCode(...new TextEncoder().encode(JSON.stringify({ username, password, serveraddress })));
  return { 'X-Registry-Auth': btoa(bin).replace(/\+/g, '-').replace(/\//g, '_') };
}
