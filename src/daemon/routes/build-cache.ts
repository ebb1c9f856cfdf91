// POST /build/prune: the build cache berth keeps (RUN --mount=type=cache
// directories and unpacked contexts) removed as BuildKit's prune answers it.
import type { ApiServer } from '../server.ts';
import type { ContextCache } from '../../build/context-cache.ts';
import { listCacheMounts, pruneCacheMounts } from '../../build/cache-mounts.ts';
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

/** The build cache in GET /system/df's BuildCache shape (BuildKit's usage records). */
export async function buildCacheUsage(cacheRoot: string, contexts: ContextCache): Promise<Record<string, unknown>[]> {
  const iso = (ms: number) => new Date(ms).toISOString();
  const mounts = (await listCacheMounts(cacheRoot)).map((m) => ({
    ID: m.id, Parents: null, Type: 'exec.cachemount', Description: 'cached mount from exec', InUse: m.inUse, Shared: false,
    Size: m.bytes, CreatedAt: iso(m.created), LastUsedAt: iso(m.lastUsed), UsageCount: 1,
  }));
  const local = contexts.usage().map((c) => ({
    ID: c.id, Parents: null, Type: 'source.local', Description: 'local source for context', InUse: c.inUse, Shared: false,
    Size: c.bytes, CreatedAt: iso(c.lastUsed), LastUsedAt: iso(c.lastUsed), UsageCount: 1,
  }));
  return [...mounts, ...local];
}
