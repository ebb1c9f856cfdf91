// Is a machine's daemon up? One mutual-TLS `GET /version` on its TCP
// endpoint, with a deadline: what `machine ls` shows and what create, start
// and restart wait for. node:tls is loaded when used: a module evaluated
// into the CLI's startup snapshot cannot hold it (transport.ts does the same).
import { isIP } from 'node:net';

export type DaemonState =
  | { state: 'Running'; version: string }
  | { state: 'Stopped' | 'Timeout' | 'Error'; error: string };

export function probeDaemon(host: string, port: number, tls: { ca: Buffer; cert: Buffer; key: Buffer }, timeoutMs = 10_000): Promise<DaemonState> {
  const { connect } = process.getBuiltinModule('node:tls');
  return new Promise((resolve) => {
    let data = '';
    let done = false;
    const finish = (s: DaemonState): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(s);
    };
    // SNI takes names only; an address is checked against the certificate's IP SANs all the same.
    const sock = connect({ host, port, ...tls, ...(isIP(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => finish({ state: 'Timeout', error: `Maximum number of retries (${Math.round(timeoutMs / 1000)}s) exceeded waiting for ${host}:${port}` }), timeoutMs);
    sock.on('secureConnect', () => sock.write(`GET /version HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => { data += c; });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish({ state: 'Stopped', error: '' });
      else finish({ state: 'Error', error: `Unable to query the berth daemon on ${host}:${port}: ${err.message}` });
    });
    sock.on('close', () => {
      const body = data.slice(data.indexOf('\r\n\r\n') + 4);
      const m = /"Version"\s*:\s*"([^"]*)"/.exec(body);
      if (/^HTTP\/1\.1 200 /.test(data) && m) finish({ state: 'Running', version: m[1] });
      else finish({ state: 'Error', error: `Unable to query the berth daemon on ${host}:${port}: ${data ? data.split('\r\n')[0] : 'the connection closed at the TLS handshake'}` });
    });
  });
}

/** Polls until the daemon answers or the deadline passes; the last state seen. */
export async function waitForDaemon(host: string, port: number, tls: { ca: Buffer; cert: Buffer; key: Buffer }, ms: number): Promise<DaemonState> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await probeDaemon(host, port, tls, Math.max(1000, Math.min(10_000, deadline - Date.now())));
    if (s.state === 'Running' || Date.now() >= deadline) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}
