// POST /build/prune: the build cache berth keeps (RUN --mount=type=cache
// directories and unpacked contexts) removed as BuildKit's prune answers it.
import type { ApiServer } from '../server.ts';
import type { ContextCache } from '../../build/context-cache.ts';
import { pruneCacheMounts } from '../../build/cache-mounts.ts';
import { parseUntil } from '../../api/filters.ts';
import { checkFilterKeys, intParam, parseFilters } from './query.ts';

export function buildCacheRoutes(api: ApiServer, cacheRoot: string, contexts: ContextCache): void {
  api.route('POST', '/build/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    checkFilterKeys(filters, ['until', 'id', 'type', 'inuse', 'shared', 'private', 'description', 'parent']);
    const until = filters.until?.length ? parseUntil(filters.until[0]) : undefined;
    // keep-storage (and BuildKit's newer reserved-space): the most recently used cache up to this size stays.
    let keep = intParam(ctx.query, 'keep-storage') ?? intParam(ctx.query, 'reserved-space') ?? 0;
    const newerThanUntil = (lastUsed: number) => until !== undefined && lastUsed > until;
    const keepRecent = (bytes: number) => {
      if (keep <= 0 || bytes > keep) return false;
      keep -= bytes;
      return true;
    };
    const types = filters.type;
    const deleted: string[] = [];
    let reclaimed = 0;
    if (!types || types.includes('exec.cachemount')) {
      for (const m of await pruneCacheMounts(cacheRoot, (m) => newerThanUntil(m.lastUsed) || keepRecent(m.bytes))) {
        deleted.push(m.id);
        reclaimed += m.bytes;
      }
    }
    if (!types || types.includes('source.local')) {
      for (const c of await contexts.prune((_, lastUsed) => newerThanUntil(lastUsed))) {
        deleted.push(c.id);
        reclaimed += c.bytes;
      }
    }
    return { body: { CachesDeleted: deleted, SpaceReclaimed: reclaimed } };
  });
}
