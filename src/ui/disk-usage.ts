// GET /system/df's answer as the four rows `docker system df` prints: count,
// active, size and reclaimable bytes of images, containers, local volumes
// and the build cache, by the docker CLI's own rules (an image's bytes are
// in use less those it shares; a container's writable layer is reclaimable
// once it is not running; a volume's when no container references it; cache
// records neither in use nor shared).
import { humanSize4 } from '../api/units.ts';

export interface DiskUsageAnswer {
  LayersSize: number;
  Images: { Containers: number; Size: number; SharedSize: number }[] | null;
  Containers: { State: string; SizeRw?: number }[] | null;
  Volumes: { UsageData?: { Size: number; RefCount: number } | null }[] | null;
  BuildCache: { Size: number; InUse: boolean; Shared: boolean }[] | null;
}

export interface UsageRow { type: string; total: number; active: number; size: number; reclaimable: number; /** The CLI's RECLAIMABLE column: "1.2MB (50%)". */ reclaimableText: string; sizeText: string }

const active = (s: string): boolean => s === 'running' || s === 'paused' || s === 'restarting';

function row(type: string, total: number, activeCount: number, size: number, reclaimable: number, percent: boolean): UsageRow {
  const pct = percent && size > 0 ? ` (${Math.floor((reclaimable * 100) / size)}%)` : '';
  return { type, total, active: activeCount, size, reclaimable, sizeText: humanSize4(size), reclaimableText: humanSize4(reclaimable) + pct };
}

export function usageRows(df: DiskUsageAnswer): UsageRow[] {
  const images = df.Images ?? [];
  const used = images.filter((i) => i.Containers > 0).reduce((n, i) => n + i.Size - i.SharedSize, 0);
  const containers = df.Containers ?? [];
  const rw = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const rwIdle = containers.filter((c) => !active(c.State)).reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const vols = { active: 0, size: 0, used: 0 };
  for (const v of df.Volumes ?? []) {
    if (!v.UsageData) continue;
    if (v.UsageData.RefCount > 0) { vols.active++; vols.used += v.UsageData.Size; }
    if (v.UsageData.Size > 0) vols.size += v.UsageData.Size;
  }
  const cache = df.BuildCache ?? [];
  const cacheSize = cache.reduce((n, c) => n + c.Size, 0);
  return [
    row('Images', images.length, images.filter((i) => i.Containers > 0).length, df.LayersSize, df.LayersSize - used, true),
    row('Containers', containers.length, containers.filter((c) => active(c.State)).length, rw, rwIdle, true),
    row('Local Volumes', (df.Volumes ?? []).length, vols.active, vols.size, vols.size - vols.used, true),
    row('Build Cache', cache.length, cache.filter((c) => c.InUse).length, cacheSize, cache.filter((c) => !c.InUse && !c.Shared).reduce((n, c) => n + c.Size, 0), false),
  ];
}
