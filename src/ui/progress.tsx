// Docker's JSON progress (pull and push) as a bar per layer: each message
// updates its layer's line; a message without a layer is the overall status.
import { useState } from 'preact/hooks';

export interface ProgressMessage { id?: string; status?: string; progressDetail?: { current?: number; total?: number }; error?: string; errorDetail?: { message: string } }
interface Layer { id: string; status: string; current: number; total: number }

const DONE = /complete|already exists|pushed|mounted from/i;

/** The layers' state, the overall status, and the handler of each message (which throws the stream's error). */
export function useLayerProgress(): { layers: Layer[]; status: string; reset: () => void; onMessage: (m: ProgressMessage) => void } {
  const [layers, setLayers] = useState<Layer[]>([]);
  const [status, setStatus] = useState('');
  const byId = new Map<string, Layer>(layers.map((l) => [l.id, { ...l }]));
  return {
    layers,
    status,
    reset: () => { setLayers([]); setStatus(''); byId.clear(); },
    onMessage: (m) => {
      if (m.error) throw new Error(m.errorDetail?.message ?? m.error);
      // "Pulling from x" and "The push refers to repository [x]" carry the repository as their id: a status line, not a layer.
      if (m.id && m.status && !m.status.startsWith('Pulling from') && !m.status.startsWith('The push refers')) {
        const l = byId.get(m.id) ?? { id: m.id, status: '', current: 0, total: 0 };
        l.status = m.status;
        if (m.progressDetail?.total) { l.current = m.progressDetail.current ?? 0; l.total = m.progressDetail.total; }
        if (DONE.test(m.status)) l.current = l.total;
        byId.set(m.id, l);
        setLayers([...byId.values()]);
      } else if (m.status) {
        setStatus(m.status);
      }
    },
  };
}

export function LayerBars({ layers, label }: { layers: Layer[]; label: string }) {
  if (layers.length === 0) return null;
  return (
    <ul class="layers" aria-label={label}>
      {layers.map((l) => (
        <li key={l.id}>
          <span class="mono">{l.id}</span> <span>{l.status}</span>
          <progress max={l.total || 1} value={l.total ? l.current : (DONE.test(l.status) ? 1 : 0)} aria-label={`layer ${l.id}`} />
        </li>
      ))}
    </ul>
  );
}
