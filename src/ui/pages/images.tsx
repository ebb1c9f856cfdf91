// Images: the list, a pull with a progress bar per layer, and per image tag,
// push, history and remove; prune.
import { useState } from 'preact/hooks';
import { call, jsonLines, pullQuery } from '../api.ts';
import { ago, bytes, ErrorLine, shortId, useAction, usePolled } from '../common.tsx';
import { LayerBars, useLayerProgress, type ProgressMessage } from '../progress.tsx';
import { CredentialFields, useCredentials } from '../credentials.tsx';
import { HistoryPanel, type ImageSummary, PushPanel, TagPanel, tagsOf } from './image-panels.tsx';

type Panel = { kind: 'tag' | 'push' | 'history'; id: string };

interface PruneReport { ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed: number }

export function ImagesPage() {
  const { data, error: loadError, refresh } = usePolled(() => call<ImageSummary[]>('GET', '/images/json'), 10000);
  const [error, act] = useAction();
  const [ref, setRef] = useState('');
  const [pulling, setPulling] = useState(false);
  const [panel, setPanel] = useState<Panel>();
  const [pruneAll, setPruneAll] = useState(false);
  const [pruned, setPruned] = useState('');
  const progress = useLayerProgress();
  const [creds, setCreds, authHeaders] = useCredentials();

  const pull = (e: Event) => act(async () => {
    e.preventDefault();
    if (!ref.trim()) throw new Error('name an image to pull, e.g. alpine:3.20');
    setPulling(true);
    progress.reset();
    try {
      await jsonLines<ProgressMessage>('/images/create', pullQuery(ref.trim()), progress.onMessage, new AbortController().signal, 'POST', authHeaders(ref.trim()));
    } finally {
      setPulling(false);
      refresh();
    }
  });

  const remove = (img: ImageSummary) => act(async () => {
    const name = tagsOf(img)[0] ?? img.Id;
    if (!confirm(`Remove image ${name}?`)) return;
    await call('DELETE', `/images/${encodeURIComponent(name)}`);
    if (panel?.id === img.Id) setPanel(undefined);
    refresh();
  });

  // As `docker image prune [-a]`: dangling images, or every image no container uses.
  const prune = () => act(async () => {
    if (!confirm(pruneAll ? 'Remove every image no container uses?' : 'Remove all dangling images?')) return;
    setPruned('');
    const r = await call<PruneReport>('POST', '/images/prune', { query: { filters: JSON.stringify({ dangling: [pruneAll ? 'false' : 'true'] }) } });
    const deleted = (r.ImagesDeleted ?? []).filter((x) => x.Deleted).length;
    const untagged = (r.ImagesDeleted ?? []).filter((x) => x.Untagged).length;
    // The daemon lists each image and layer it deleted, and each name it untagged.
    setPruned(`Pruned: ${deleted} deleted (images and layers), ${untagged} untagged; reclaimed ${bytes(r.SpaceReclaimed)}`);
    refresh();
  });

  const images = data ?? [];
  const shown = panel && images.find((i) => i.Id === panel.id);
  const toggle = (kind: Panel['kind'], img: ImageSummary) => setPanel(panel?.kind === kind && panel.id === img.Id ? undefined : { kind, id: img.Id });
  const label = (img: ImageSummary): string => tagsOf(img)[0] ?? shortId(img.Id);
  return (
    <section aria-labelledby="images-h">
      <h1 id="images-h">Images</h1>
      <form class="bar" onSubmit={pull}>
        <label for="pull-ref">Pull an image</label>
        <input id="pull-ref" type="text" value={ref} placeholder="alpine:3.20" onInput={(e) => setRef((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit" disabled={pulling}>{pulling ? 'Pulling…' : 'Pull'}</button>
        <span class="muted" aria-live="polite">{progress.status}</span>
      </form>
      <CredentialFields id="pull-creds" value={creds} onChange={setCreds} />
      <LayerBars layers={progress.layers} label="Layers" />
      <div class="bar">
        <label><input type="checkbox" checked={pruneAll} onChange={(e) => setPruneAll((e.currentTarget as HTMLInputElement).checked)} /> all unused images, not only dangling ones</label>
        <button type="button" class="danger" onClick={prune}>Prune images</button>
        <span class="muted" role="status">{pruned}</span>
      </div>
      <ErrorLine error={error ?? loadError} />
      {shown && panel.kind === 'tag' && <TagPanel key={shown.Id} img={shown} onDone={refresh} />}
      {shown && panel.kind === 'push' && <PushPanel key={shown.Id} img={shown} onDone={refresh} />}
      {shown && panel.kind === 'history' && <HistoryPanel key={shown.Id} img={shown} />}
      <table class="list">
        <caption class="sr-only">Images</caption>
        <thead><tr><th scope="col">Repository:tag</th><th scope="col">ID</th><th scope="col">Created</th><th scope="col">Size</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {images.map((img) => (
            <tr key={img.Id}>
              <th scope="row">{tagsOf(img).join(', ') || '<none>'}</th>
              <td class="mono">{shortId(img.Id)}</td>
              <td>{ago(img.Created)}</td>
              <td>{bytes(img.Size)}</td>
              <td class="actions">
                <button type="button" onClick={() => toggle('tag', img)} aria-label={`Tag image ${label(img)}`} aria-expanded={panel?.kind === 'tag' && panel.id === img.Id}>Tag</button>
                <button type="button" onClick={() => toggle('push', img)} aria-label={`Push image ${label(img)}`} aria-expanded={panel?.kind === 'push' && panel.id === img.Id}>Push</button>
                <button type="button" onClick={() => toggle('history', img)} aria-label={`History of image ${label(img)}`} aria-expanded={panel?.kind === 'history' && panel.id === img.Id}>History</button>
                <button type="button" class="danger" onClick={() => remove(img)} aria-label={`Remove image ${label(img)}`}>Remove</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
