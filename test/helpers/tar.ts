// Small tars built in memory for tests, hostile ones included (links, `../`).
import tarStream from 'tar-stream';

export interface TarEntry { name: string; type?: 'file' | 'symlink' | 'link' | 'directory'; linkname?: string; content?: Buffer | string }

export function makeTar(entries: TarEntry[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
    for (const e of entries) {
      const type = e.type ?? 'file';
      pack.entry({ name: e.name, type, linkname: e.linkname, mode: type === 'directory' ? 0o755 : 0o644 }, type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0));
    }
    pack.finalize();
  });
}
