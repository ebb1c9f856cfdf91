// Live stats: CPU and memory over the last few minutes (the stats stream, one sample a second).
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { errorText, jsonLines } from '../api.ts';
import { bytes, ErrorLine } from '../common.tsx';
import { cpuPercent } from '../sparkline.tsx';

interface Stats {
  read: string;
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; limit?: number; stats?: { inactive_file?: number } };
}

const KEEP = 300;

function chart(el: HTMLElement, label: string, value: (v: number) => string): uPlot {
  return new uPlot({
    width: Math.max(300, el.clientWidth), height: 160,
    series: [{}, { label, stroke: '#2563eb', width: 2, value: (_u, v) => (v == null ? '–' : value(v)) }],
    axes: [{}, { values: (_u, ticks) => ticks.map(value), size: 70 }],
    scales: { y: { range: (_u, _min, max) => [0, Math.max(max, 1)] } },
  }, [[], []], el);
}

export function StatsView({ id }: { id: string }) {
  const cpuEl = useRef<HTMLDivElement>(null);
  const memEl = useRef<HTMLDivElement>(null);
  const [now, setNow] = useState<{ cpu: number; mem: number; limit: number }>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    const cpuChart = chart(cpuEl.current!, 'CPU %', (v) => `${v.toFixed(1)}%`);
    const memChart = chart(memEl.current!, 'Memory', (v) => bytes(v));
    const t: number[] = [];
    const cpu: number[] = [];
    const mem: number[] = [];
    const ctl = new AbortController();
    void jsonLines<Stats>(`/containers/${id}/stats`, { stream: true }, (s) => {
      const used = (s.memory_stats.usage ?? 0) - (s.memory_stats.stats?.inactive_file ?? 0);
      t.push(Date.parse(s.read) / 1000);
      cpu.push(cpuPercent(s));
      mem.push(Math.max(0, used));
      if (t.length > KEEP) { t.shift(); cpu.shift(); mem.shift(); }
      cpuChart.setData([t, cpu]);
      memChart.setData([t, mem]);
      setNow({ cpu: cpu[cpu.length - 1], mem: mem[mem.length - 1], limit: s.memory_stats.limit ?? 0 });
    }, ctl.signal).catch((err) => {
      if (!ctl.signal.aborted) setError(errorText(err));
    });
    return () => {
      ctl.abort();
      cpuChart.destroy();
      memChart.destroy();
    };
  }, [id]);

  return (
    <div class="stats">
      <ErrorLine error={error} />
      <p aria-live="polite" data-testid="stats-now">{now ? `CPU ${now.cpu.toFixed(1)}% · memory ${bytes(now.mem)}${now.limit ? ` of ${bytes(now.limit)}` : ''}` : 'Waiting for the first sample…'}</p>
      <figure><figcaption>CPU</figcaption><div ref={cpuEl} /></figure>
      <figure><figcaption>Memory</figcaption><div ref={memEl} /></figure>
    </div>
  );
}
