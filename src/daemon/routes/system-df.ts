// GET /system/df: disk usage in dockerd's shape. Images carry their shared
// size (bytes in layers another image also has) so clients can tell what
// removing one would free; volumes carry their size and how many containers
// reference them (dockerd's UsageData); build cache records are cache
// mounts and kept contexts, in BuildKit's shape.
import type { ApiServer } from '../server.ts';
import type { Engine } from '../engine.ts';
import { allLinkNames, summary as containerSummary } from './containers.ts';
import { chainIds } from '../../images/layers.ts';
import { buildCacheUsage } from './build-cache.ts';

export function systemDfRoutes(api: ApiServer, engine: Engine): void {
  api.route('GET', '/system/df', async () => {
    const { images } = engine;
    const inUse = engine.containers.imagesInUse();
    const all = images.store.list();
    // How many images hold each layer, and each layer's size.
    const holders = new Map<string, number>();
    const sizes = new Map<string, number>();
    for (const img of all) {
      for (const c of chainIds(img.config.rootfs.diff_ids)) {
        holders.set(c, (holders.get(c) ?? 0) + 1);
        if (!sizes.has(c)) sizes.set(c, await images.store.layers.info(c).then((i) => i.size, () => 0));
      }
    }
    const imageRows = [];
    for (const img of all) {
      const row = await images.summary(img, inUse);
      row.SharedSize = chainIds(img.config.rootfs.diff_ids).reduce((n, c) => n + ((holders.get(c) ?? 0) > 1 ? sizes.get(c) ?? 0 : 0), 0);
      imageRows.push(row);
    }
    const containers = [];
    const links = allLinkNames(engine);
    for (const list of inUse.values()) for (const c of list) containers.push(await containerSummary(engine, c, true, links));
    return {
      body: {
        LayersSize: [...sizes.values()].reduce((a, b) => a + b, 0),
        Images: imageRows,
        Containers: containers,
        Volumes: await engine.volumes.usage(),
        BuildCache: await buildCacheUsage(engine.buildCacheRoot, engine.buildContexts),
      },
    };
  });
}
