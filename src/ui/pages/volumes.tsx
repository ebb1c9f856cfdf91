// Volumes: list, create, inspect (as a tree), remove, prune.
import { useState } from 'preact/hooks';
import { call } from '../api.ts';
import { bytes, ErrorLine, useAction, usePolled } from '../common.tsx';
import { InspectPanel } from '../inspect-panel.tsx';

interface Volume { Name: string; Driver: string; Mountpoint: string; CreatedAt?: string }

export function VolumesPage() {
  const { data, error: loadError, refresh } = usePolled(() => call<{ Volumes: Volume[] | null }>('GET', '/volumes'), 10000);
  const [error, act] = useAction();
  const [name, setName] = useState('');
  const [inspected, setInspected] = useState<string>();
  const [pruneAll, setPruneAll] = useState(false);
  const [pruned, setPruned] = useState('');
  const create = (e: Event) => act(async () => {
    e.preventDefault();
    await call('POST', '/volumes/create', { body: { Name: name.trim(), Driver: 'local' } });
    setName('');
    refresh();
  });
  const remove = (v: Volume) => act(async () => {
    if (!confirm(`Remove volume ${v.Name}?`)) return;
    await call('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
    if (inspected === v.Name) setInspected(undefined);
    refresh();
  });
  // As `docker volume prune [-a]`: anonymous volumes no container uses, or named ones too.
  const prune = () => act(async () => {
    if (!confirm(pruneAll ? 'Remove every volume no container uses, named ones included?' : 'Remove the anonymous volumes no container uses?')) return;
    setPruned('');
    const r = await call<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters: pruneAll ? JSON.stringify({ all: ['true'] }) : undefined } });
    setPruned(`Deleted ${(r.VolumesDeleted ?? []).length} volumes; reclaimed ${bytes(r.SpaceReclaimed)}`);
    refresh();
  });
  return (
    <section aria-labelledby="volumes-h">
      <h1 id="volumes-h">Volumes</h1>
      <form class="bar" onSubmit={create}>
        <label for="volume-name">New volume name (empty: a generated one)</label>
        <input id="volume-name" type="text" value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Create</button>
      </form>
      <div class="bar">
        <label><input type="checkbox" checked={pruneAll} onChange={(e) => setPruneAll((e.currentTarget as HTMLInputElement).checked)} /> named volumes too, not only anonymous ones</label>
        <button type="button" class="danger" onClick={prune}>Prune volumes</button>
        <span class="muted" role="status">{pruned}</span>
      </div>
      <ErrorLine error={error ?? loadError} />
      {inspected && <InspectPanel path={`/volumes/${encodeURIComponent(inspected)}`} title={`Volume ${inspected}`} />}
      <table class="list">
        <caption class="sr-only">Volumes</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Driver</th><th scope="col">Mount point</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {(data?.Volumes ?? []).map((v) => (
            <tr key={v.Name}>
              <th scope="row" class="mono">{v.Name}</th>
              <td>{v.Driver}</td>
              <td class="mono">{v.Mountpoint}</td>
              <td class="actions">
                <button type="button" onClick={() => setInspected(inspected === v.Name ? undefined : v.Name)} aria-expanded={inspected === v.Name} aria-label={`Inspect volume ${v.Name}`}>Inspect</button>
                <button type="button" class="danger" onClick={() => remove(v)} aria-label={`Remove volume ${v.Name}`}>Remove</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
