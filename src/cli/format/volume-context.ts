// The docker CLI's volume formatter context (`volume ls`, `system df -v`):
// the fields a `--format` template sees, their headers, and the name order.
import { humanSize4 } from '../../api/units.ts';

export interface VolumeJson {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Scope: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
}

/** sortorder.NaturalLess, as the docker CLI sorts `volume ls`: runs of digits compare as numbers. */
export function naturalLess(a: string, b: string): boolean {
  const re = /(\d+|\D+)/g;
  const as = a.match(re) ?? [];
  const bs = b.match(re) ?? [];
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const [x, y] = [as[i], bs[i]];
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const nx = BigInt(x);
      const ny = BigInt(y);
      if (nx !== ny) return nx < ny;
      return x.length < y.length; // equal values: fewer leading zeros first
    }
    return x < y;
  }
  return as.length < bs.length;
}

/** The docker CLI's volume formatter context: what `{{.X}}` and `--format json` see. */
export function volumeRow(v: VolumeJson): Record<string, unknown> {
  const labels = v.Labels ?? {};
  return {
    Availability: 'N/A',
    Driver: v.Driver,
    Group: 'N/A',
    Labels: Object.entries(labels).map(([k, val]) => `${k}=${val}`).sort().join(','),
    Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A',
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: v.Scope,
    Size: v.UsageData ? humanSize4(v.UsageData.Size) : 'N/A',
    Status: 'N/A',
    Label: (k: string) => labels[k] ?? '',
  };
}

export const VOLUME_HEADERS = {
  ID: 'ID', Name: 'VOLUME NAME', Group: 'GROUP', Driver: 'DRIVER', Scope: 'SCOPE', Availability: 'AVAILABILITY',
  Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE', Status: 'STATUS',
};

