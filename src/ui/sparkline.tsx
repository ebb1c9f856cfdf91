// CPU and memory sparklines for the container list: one non-streaming stats
// call per running container in turn (a browser keeps only six connections
// to a host, so no stream per container), a round every 5 s.
import { useEffect, useRef, useState } from 'preact/hooks';
import { call } from './api.ts';
import { bytes } from './common.tsx';

const POINTS = 20;
/** More running containers than this: the first ones only, the daemon is not polled for hundreds. */
const MAX_POLLED = 30;

interface Stats {
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; stats?: { inactive_file?: number } };
}

export interface Series { cpu: number[]; mem: number[] }

/** CPU % as the docker CLI computes it: container delta over system delta, times CPUs. */
export function cpuPercent(s: Stats): number {
  const cpu = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sys = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  return sys > 0 && cpu > 0 ? (cpu / sys) * (s.cpu_stats.online_cpus ?? 1) * 100 : 0;
}

export function useSparklines(running: string[]): Map<string, Series> {
  const [series, setSeries] = useState(new Map<string, Series>());
  const ids = useRef(running);
  ids.current = running;
  useEffect(() => {
    let stopped = false;
    const all = new Map<string, Series>();
    void (async () => {
      while (!stopped) {
        const round = ids.current.slice(0, MAX_POLLED);
        for (const id of round) {
          if (stopped) return;
          try {
            const s = await call<Stats>('GET', `/containers/${id}/stats`, { query: { stream: false } });
            const one = all.get(id) ?? { cpu: [], mem: [] };
            one.cpu = [...one.cpu, cpuPercent(s)].slice(-POINTS);
            one.mem = [...one.mem, Math.max(0, (s.memory_stats.usage ?? 0) - (s.memory_stats.stats?.inactive_file ?? 0))].slice(-POINTS);
            all.set(id, one);
          } catch {
            all.delete(id); // stopped or removed meanwhile
          }
        }
        for (const id of all.keys()) if (!round.includes(id)) all.delete(id);
        if (!stopped) setSeries(new Map(all));
        await new Promise((r) => setTimeout(r, 5000));
      }
    })();
    return () => { stopped = true; };
  }, []);
  return series;
}

function Line({ values, label, color }: { values: number[]; label: string; color: string }) {
  const max = Math.max(...values, 1e-9);
  const w = 60;
  const h = 16;
  const pts = values.map((v, i) => `${values.length === 1 ? w : (i / (values.length - 1)) * w},${h - (v / max) * (h - 2) - 1}`).join(' ');
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      <title>{label}</title>
      <polyline points={pts} fill="none" stroke={color} stroke-width="1.5" />
    </svg>
  );
}

export function Sparklines({ s }: { s: Series | undefined }) {
  if (!s || !s.cpu.length) return <span class="muted">–</span>;
  const cpu = s.cpu[s.cpu.length - 1];
  const mem = s.mem[s.mem.length - 1];
  return (
    <span class="sparks">
      <Line values={s.cpu} label={`CPU ${cpu.toFixed(1)}%`} color="#1d4ed8" /> <span>{cpu.toFixed(1)}%</span>
      <Line values={s.mem} label={`memory ${bytes(mem)}`} color="#7c2d12" /> <span>{bytes(mem)}</span>
    </span>
  );
}
