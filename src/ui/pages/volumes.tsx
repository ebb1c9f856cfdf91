// Volumes: list, create, remove.
import { useState } from 'preact/hooks';
import { call } from '../api.ts';
import { ErrorLine, useAction, usePolled } from '../common.tsx';

interface Volume { Name: string; Driver: string; Mountpoint: string; CreatedAt?: string }

export function VolumesPage() {
  const { data, error: loadError, refresh } = usePolled(() => call<{ Volumes: Volume[] | null }>('GET', '/volumes'), 10000);
  const [error, act] = useAction();
  const [name, setName] = useState('');
  const create = (e: Event) => act(async () => {
    e.preventDefault();
    await call('POST', '/volumes/create', { body: { Name: name.trim(), Driver: 'local' } });
    setName('');
    refresh();
  });
  const remove = (v: Volume) => act(async () => {
    if (!confirm(`Remove volume ${v.Name}?`)) return;
    await call('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
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
      <ErrorLine error={error ?? loadError} />
      <table class="list">
        <caption class="sr-only">Volumes</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Driver</th><th scope="col">Mount point</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {(data?.Volumes ?? []).map((v) => (
            <tr key={v.Name}>
              <th scope="row" class="mono">{v.Name}</th>
              <td>{v.Driver}</td>
              <td class="mono">{v.Mountpoint}</td>
              <td><button type="button" class="danger" onClick={() => remove(v)} aria-label={`Remove volume ${v.Name}`}>Remove</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
