// POST /session (deprecated by the API, still served by every dockerd since
// 18.06, BuildKit enabled or not): BuildKit's client session. The client
// upgrades the connection to h2c and serves gRPC on it (file sync, auth,
// secrets, SSH) for the daemon's BuildKit to call back into. berth has no
// BuildKit, so nothing calls back (its builds take their context as the
// body of POST /build and credentials from X-Registry-Config); the session is
// still kept as dockerd keeps it: BuildKit's checks and errors, the 101 to
// h2c, the daemon as the HTTP/2 client on it (without its preface a client's
// HTTP/2 server gives up on the connection), one session per ID until the
// client closes it.
import type { ClientHttp2Session } from 'node:http2';
import { Duplex, type Readable, type Writable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { ApiServer } from '../server.ts';
import { InvalidArgumentError } from '../../errors.ts';

const header = (req: IncomingMessage, name: string): string => {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
};

/** The hijacked connection's two halves as the one stream HTTP/2 runs on. */
function joined(input: Readable, output: Writable): Duplex {
  const conn = new Duplex({
    read: () => { input.resume(); },
    write: (chunk: Buffer, _enc, cb) => { output.write(chunk, cb); },
    final: (cb) => { output.end(); cb(); },
    destroy: (err, cb) => { input.destroy(); output.destroy(); cb(err); },
  });
  input.on('data', (c: Buffer) => { if (!conn.push(c)) input.pause(); });
  input.on('end', () => conn.push(null));
  input.on('error', (err) => conn.destroy(err));
  output.on('error', (err) => conn.destroy(err));
  return conn;
}

export function sessionRoutes(api: ApiServer): void {
  const open = new Map<string, ClientHttp2Session>();
  api.route('POST', '/session', async (ctx) => {
    const id = header(ctx.req, 'x-docker-expose-session-uuid');
    const proto = header(ctx.req, 'upgrade');
    if (open.has(id)) throw new InvalidArgumentError(`session ${id} already exists`);
    if (!proto) throw new InvalidArgumentError('no upgrade proto in request');
    if (proto !== 'h2c') throw new InvalidArgumentError(`protocol ${proto} not supported`);
    const hj = await ctx.hijack('', 'h2c');
    // node:http2 loaded at the first session: an idle daemon does not keep it.
    const h2 = process.getBuiltinModule('node:http2').connect('http://session', { createConnection: () => joined(hj.input, hj.output) });
    open.set(id, h2);
    try {
      await new Promise<void>((resolve) => {
        h2.once('close', resolve);
        // A client that goes away mid-frame: the session ends, nothing else does.
        h2.on('error', () => h2.destroy());
        ctx.signal.addEventListener('abort', () => h2.destroy(), { once: true });
      });
    } finally {
      open.delete(id);
      hj.end();
    }
  });
}
