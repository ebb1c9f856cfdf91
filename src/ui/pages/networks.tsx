// Networks: list, create (bridge), inspect (as a tree), remove, prune.
import { useState } from 'preact/hooks';
import { call } from '../api.ts';
import { ErrorLine, shortId, useAction, usePolled } from '../common.tsx';
import { InspectPanel } from '../inspect-panel.tsx';

interface Network { Id: string; Name: string; Driver: string; Scope: string; IPAM?: { Config?: { Subnet?: string }[] } }

export function NetworksPage() {
  const { data, error: loadError, refresh } = usePolled(() => call<Network[]>('GET', '/networks'), 10000);
  const [error, act] = useAction();
  const [name, setName] = useState('');
  const [subnet, setSubnet] = useState('');
  const [inspected, setInspected] = useState<Network>();
  const [pruned, setPruned] = useState('');
  const create = (e: Event) => act(async () => {
    e.preventDefault();
    await call('POST', '/networks/create', {
      body: { Name: name.trim(), Driver: 'bridge', ...(subnet.trim() ? { IPAM: { Config: [{ Subnet: subnet.trim() }] } } : {}) },
    });
    setName('');
    setSubnet('');
    refresh();
  });
  const remove = (n: Network) => act(async () => {
    if (!confirm(`Remove network ${n.Name}?`)) return;
    await call('DELETE', `/networks/${encodeURIComponent(n.Id)}`);
    if (inspected?.Id === n.Id) setInspected(undefined);
    refresh();
  });
  // As `docker network prune`: the networks no container is connected to (the predefined ones stay).
  const prune = () => act(async () => {
    if (!confirm('Remove every network no container uses?')) return;
    setPruned('');
    const r = await call<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune');
    setPruned(`Deleted ${(r.NetworksDeleted ?? []).length} networks${r.NetworksDeleted?.length ? `: ${r.NetworksDeleted.join(', ')}` : ''}`);
    refresh();
  });
  return (
    <section aria-labelledby="networks-h">
      <h1 id="networks-h">Networks</h1>
      <form class="bar" onSubmit={create}>
        <label for="network-name">New network name</label>
        <input id="network-name" type="text" value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
        <label for="network-subnet">Subnet (optional)</label>
        <input id="network-subnet" type="text" value={subnet} placeholder="172.30.0.0/16" onInput={(e) => setSubnet((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Create</button>
      </form>
      <div class="bar">
        <button type="button" class="danger" onClick={prune}>Prune networks</button>
        <span class="muted" role="status">{pruned}</span>
      </div>
      <ErrorLine error={error ?? loadError} />
      {inspected && <InspectPanel path={`/networks/${encodeURIComponent(inspected.Id)}`} title={`Network ${inspected.Name}`} />}
      <table class="list">
        <caption class="sr-only">Networks</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">ID</th><th scope="col">Driver</th><th scope="col">Subnet</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {(data ?? []).map((n) => (
            <tr key={n.Id}>
              <th scope="row">{n.Name}</th>
              <td class="mono">{shortId(n.Id)}</td>
              <td>{n.Driver}</td>
              <td class="mono">{(n.IPAM?.Config ?? []).map((c) => c.Subnet).filter(Boolean).join(', ')}</td>
              <td class="actions">
                <button type="button" onClick={() => setInspected(inspected?.Id === n.Id ? undefined : n)} aria-expanded={inspected?.Id === n.Id} aria-label={`Inspect network ${n.Name}`}>Inspect</button>
                {!['bridge', 'host', 'none'].includes(n.Name) && <button type="button" class="danger" onClick={() => remove(n)} aria-label={`Remove network ${n.Name}`}>Remove</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
