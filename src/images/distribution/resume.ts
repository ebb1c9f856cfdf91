// A blob download that survives dropped connections: when the response body
// breaks off, the rest is asked for again with `Range: bytes=<n>-` (dockerd
// does the same); a registry that ignores the Range and answers 200 has the
// bytes already received skipped. The caller still verifies the digest.
import { Readable } from 'node:stream';
import type { RegistryClient } from './client.ts';

const MAX_RESUMES = 5;
const RESUME_DELAY_MS = 200;

export async function resumableBlob(client: RegistryClient, digest: string): Promise<Readable> {
  let received = 0;
  let resumes = 0;
  let current = (await client.blob(digest)).stream;
  let skip = 0;

  const out = new Readable({
    highWaterMark: 1 << 20,
    read() {
      current.resume();
    },
    destroy(err, cb) {
      current.destroy();
      cb(err);
    },
  });

  const attach = (s: Readable) => {
    current = s;
    s.on('data', (chunk: Buffer) => {
      let c = chunk;
      if (skip > 0) {
        const drop = Math.min(skip, c.length);
        skip -= drop;
        c = c.subarray(drop);
        if (c.length === 0) return;
      }
      received += c.length;
      if (!out.push(c)) s.pause();
    });
    s.on('end', () => out.push(null));
    s.on('error', (err) => { void resume(err); });
    s.pause();
  };

  const resume = async (err: Error) => {
    if (out.destroyed) return;
    if (resumes >= MAX_RESUMES) {
      out.destroy(err);
      return;
    }
    resumes++;
    current.removeAllListeners();
    current.on('error', () => {});
    await new Promise((r) => setTimeout(r, RESUME_DELAY_MS * resumes));
    try {
      const next = await client.blob(digest, received);
      skip = next.resumed ? 0 : received;
      attach(next.stream);
      current.resume();
    } catch (e) {
      out.destroy(e as Error);
    }
  };

  attach(current);
  return out;
}
