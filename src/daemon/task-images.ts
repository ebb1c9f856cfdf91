// A swarm task's image on this node (cluster/local-engine.ts's hasImage and
// pull): found in the image store, or pulled from its registry with the
// credentials the service was created with (`--with-registry-auth`: the
// docker CLI's X-Registry-Auth, kept in the task's spec as swarm keeps it).
import type { ImageService } from '../images/service.ts';
import type { Distribution } from '../images/distribution/service.ts';
import { decodeRegistryAuth } from '../images/distribution/auth.ts';

export function taskImages(images: ImageService, distribution: Distribution): { hasImage(ref: string): boolean; pull(ref: string, registryAuth?: string): Promise<void> } {
  return {
    hasImage: (ref) => images.store.resolve(ref) !== undefined,
    async pull(ref, registryAuth) {
      const run = await images.preparePull(ref, { creds: decodeRegistryAuth(registryAuth), hosts: distribution.hosts, metadata: distribution.metadata });
      // Progress is for a client; a failure inside the stream is the pull's.
      let failed = '';
      await run((m) => {
        const e = (m as { error?: string }).error;
        if (e) failed = e;
      });
      if (failed) throw new Error(failed);
    },
  };
}
