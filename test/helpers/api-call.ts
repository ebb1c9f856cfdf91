// One Engine API request over a unix socket with node:http, as an SDK sends it.
import { request } from 'node:http';

/** The answer to `callApi`: its status and body as text. */
export interface ApiAnswer { status: number; body: string }

/** Sends `body` as JSON (when given) and resolves with the whole answer. */
export function callApi(socketPath: string, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}
