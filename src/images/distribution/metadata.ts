// What dockerd calls v2 metadata: for each layer (by diff ID), the
// compressed blobs it is known as and the repositories they were seen in.
// Push uses it to skip a blob the registry already has ("Layer already
// exists"), to mount it from another repository of the same registry
// ("Mounted from …"), and to push a locally built layer as the same gzip blob
// every time. One small JSON file per diff ID, written atomically.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic, removeTempFiles } from '../../files/atomic.ts';
import { parseDigest } from '../content.ts';

export interface BlobSighting {
  /** The compressed blob's digest. */
  digest: string;
  mediaType: string;
  size: number;
  /** Full repository name it was pulled from or pushed to (`localhost:5000/app`); empty when only built locally. */
  repository: string;
}

const MAX_SIGHTINGS = 16;

export class LayerMetadata {
  private readonly dir: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(root: string) {
    this.dir = join(root, 'v2metadata-by-diffid');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await removeTempFiles(this.dir);
  }

  private file(diffId: string): string {
    return join(this.dir, parseDigest(diffId) + '.json');
  }

  async get(diffId: string): Promise<BlobSighting[]> {
    try {
      const list = JSON.parse(await readFile(this.file(diffId), 'utf8')) as unknown;
      return Array.isArray(list) ? (list as BlobSighting[]).filter((s) => typeof s.digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(s.digest)) : [];
    } catch {
      return [];
    }
  }

  /** Records a sighting, newest first; serialized so concurrent pushes cannot lose one. */
  add(diffId: string, s: BlobSighting): Promise<void> {
    const run = this.chain.then(async () => {
      await mkdir(this.dir, { recursive: true });
      const list = (await this.get(diffId)).filter((o) => !(o.digest === s.digest && o.repository === s.repository));
      await writeJsonAtomic(this.file(diffId), [s, ...list].slice(0, MAX_SIGHTINGS));
    });
    this.chain = run.catch(() => {});
    return run;
  }
}
