// `system df` as a picture: a bar per kind (images, containers, volumes,
// build cache), its length the kind's size against the largest, the
// reclaimable part marked; the same numbers in a table, as the CLI prints them.
import { call } from '../api.ts';
import { ErrorLine, usePolled } from '../common.tsx';
import { type DiskUsageAnswer, usageRows } from '../disk-usage.ts';

export function DiskPage() {
  const { data, error, refresh } = usePolled(() => call<DiskUsageAnswer>('GET', '/system/df'), 30000);
  const rows = data ? usageRows(data) : [];
  const largest = Math.max(1, ...rows.map((r) => r.size));
  return (
    <section aria-labelledby="disk-h">
      <div class="bar">
        <h1 id="disk-h">Disk usage</h1>
        <button type="button" onClick={refresh}>Refresh</button>
      </div>
      <ErrorLine error={error} />
      {!data && !error && <p class="muted">Loading…</p>}
      <div class="df-bars">
        {rows.map((r) => (
          <figure key={r.type} class="df-bar" data-type={r.type}>
            <figcaption><strong>{r.type}</strong> <span class="muted">{r.sizeText}, {r.reclaimableText} reclaimable</span></figcaption>
            <svg role="img" aria-label={`${r.type}: ${r.sizeText} in all, ${r.reclaimableText} reclaimable`} viewBox="0 0 1000 24" preserveAspectRatio="none" width="100%" height="24">
              <rect x="0" y="0" width="1000" height="24" fill="#e5e7eb" />
              <rect x="0" y="0" width={(1000 * r.size) / largest} height="24" fill="#1e3a8a" />
              <rect x={(1000 * (r.size - r.reclaimable)) / largest} y="0" width={(1000 * r.reclaimable) / largest} height="24" fill="#fca311" />
            </svg>
          </figure>
        ))}
      </div>
      {rows.length > 0 && <p class="muted df-legend"><span class="swatch used" aria-hidden="true" /> in use <span class="swatch free" aria-hidden="true" /> reclaimable</p>}
      <table class="list">
        <caption class="sr-only">Disk usage, as `system df` prints it</caption>
        <thead><tr><th scope="col">Type</th><th scope="col">Total</th><th scope="col">Active</th><th scope="col">Size</th><th scope="col">Reclaimable</th></tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.type} data-type={r.type}>
              <th scope="row">{r.type}</th><td>{r.total}</td><td>{r.active}</td><td>{r.sizeText}</td><td>{r.reclaimableText}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
