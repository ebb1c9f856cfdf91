// Images: the list, a pull with a progress bar per layer, remove.
import { useState } from 'preact/hooks';
import { call, jsonLines, pullQuery } from '../api.ts';
import { ago, bytes, ErrorLine, shortId, useAction, usePolled } from '../common.tsx';

interface ImageSummary { Id: string; RepoTags: string[] | null; RepoDigests: string[] | null; Size: number; Created: number }
interface Progress { id?: string; status?: string; progressDetail?: { current?: number; total?: number }; error?: string; errorDetail?: { message: string } }
interface Layer { id: string; status: string; current: number; total: number }

export function ImagesPage() {
  const { data, error: loadError, refresh } = usePolled(() => call<ImageSummary[]>('GET', '/images/json'), 10000);
  const [error, act] = useAction();
  const [ref, setRef] = useState('');
  const [layers, setLayers] = useState<Layer[]>([]);
  const [pullStatus, setPullStatus] = useState('');
  const [pulling, setPulling] = useState(false);

  const pull = (e: Event) => act(async () => {
    e.preventDefault();
    if (!ref.trim()) throw new Error('name an image to pull, e.g. alpine:3.20');
    setPulling(true);
    setLayers([]);
    const byId = new Map<string, Layer>();
    try {
      await jsonLines<Progress>('/images/create', pullQuery(ref.trim()), (m) => {
        if (m.error) throw new Error(m.errorDetail?.message ?? m.error);
        if (m.id && m.status && !m.status.startsWith('Pulling from')) {
          const l = byId.get(m.id) ?? { id: m.id, status: '', current: 0, total: 0 };
          l.status = m.status;
          if (m.progressDetail?.total) { l.current = m.progressDetail.current ?? 0; l.total = m.progressDetail.total; }
          if (/complete|already exists/i.test(m.status)) l.current = l.total;
          byId.set(m.id, l);
          setLayers([...byId.values()]);
        } else if (m.status) {
          setPullStatus(m.status);
        }
      }, new AbortController().signal, 'POST');
    } finally {
      setPulling(false);
      refresh();
    }
  });

  const remove = (img: ImageSummary) => act(async () => {
    const name = img.RepoTags?.[0] && img.RepoTags[0] !== '<none>:<none>' ? img.RepoTags[0] : img.Id;
    if (!confirm(`Remove image ${name}?`)) return;
    await call('DELETE', `/images/${encodeURIComponent(name)}`);
    refresh();
  });

  return (
    <section aria-labelledby="images-h">
      <h1 id="images-h">Images</h1>
      <form class="bar" onSubmit={pull}>
        <label for="pull-ref">Pull an image</label>
        <input id="pull-ref" type="text" value={ref} placeholder="alpine:3.20" onInput={(e) => setRef((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit" disabled={pulling}>{pulling ? 'Pulling…' : 'Pull'}</button>
        <span class="muted" aria-live="polite">{pullStatus}</span>
      </form>
      {layers.length > 0 && (
        <ul class="layers" aria-label="Layers">
          {layers.map((l) => (
            <li key={l.id}>
              <span class="mono">{l.id}</span> <span>{l.status}</span>
              <progress max={l.total || 1} value={l.total ? l.current : (/complete|exists/i.test(l.status) ? 1 : 0)} aria-label={`layer ${l.id}`} />
            </li>
          ))}
        </ul>
      )}
      <ErrorLine error={error ?? loadError} />
      <table class="list">
        <caption class="sr-only">Images</caption>
        <thead><tr><th scope="col">Repository:tag</th><th scope="col">ID</th><th scope="col">Created</th><th scope="col">Size</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {(data ?? []).map((img) => (
            <tr key={img.Id}>
              <th scope="row">{(img.RepoTags ?? []).filter((t) => t !== '<none>:<none>').join(', ') || '<none>'}</th>
              <td class="mono">{shortId(img.Id)}</td>
              <td>{ago(img.Created)}</td>
              <td>{bytes(img.Size)}</td>
              <td><button type="button" class="danger" onClick={() => remove(img)} aria-label={`Remove image ${img.RepoTags?.[0] ?? shortId(img.Id)}`}>Remove</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
