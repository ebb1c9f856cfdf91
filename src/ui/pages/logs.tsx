// A container's logs: the last lines, then followed; timestamps on demand; a
// search that shows only the lines containing it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, logStream } from '../api.ts';
import { ErrorLine } from '../common.tsx';

const MAX_LINES = 5000;

interface Line { n: number; text: string; err: boolean }

/** The lines shown (all, or those the search kept) as a text file. */
function download(id: string, lines: Line[]): void {
  const url = URL.createObjectURL(new Blob([lines.map((l) => l.text + '\n').join('')], { type: 'text/plain' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `${id.slice(0, 12)}.log`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function LogsView({ id, tty }: { id: string; tty: boolean }) {
  const [follow, setFollow] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [search, setSearch] = useState('');
  const [lines, setLines] = useState<Line[]>([]);
  const [error, setError] = useState<string>();
  const view = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const ctl = new AbortController();
    let n = 0;
    let pending: Line[] = [];
    let partial = ['', '', ''];
    let all: Line[] = [];
    setLines([]);
    setError(undefined);
    // Lines are shown once a frame, however fast they come.
    const flush = setInterval(() => {
      if (!pending.length) return;
      all = all.concat(pending).slice(-MAX_LINES);
      pending = [];
      setLines(all);
    }, 100);
    void logStream(id, { stdout: true, stderr: true, follow, timestamps, tail: 500 }, tty, (text, stream) => {
      const parts = (partial[stream] + text).split('\n');
      partial[stream] = parts.pop() ?? '';
      for (const p of parts) pending.push({ n: n++, text: p.replace(/\r$/, ''), err: stream === 2 });
    }, ctl.signal).catch((err) => {
      if (!ctl.signal.aborted) setError(errorText(err));
    });
    return () => {
      ctl.abort();
      clearInterval(flush);
    };
  }, [id, follow, timestamps]);

  useEffect(() => {
    const v = view.current;
    if (v && follow) v.scrollTop = v.scrollHeight;
  }, [lines]);

  const shown = search ? lines.filter((l) => l.text.includes(search)) : lines;
  return (
    <div class="logs">
      <div class="bar">
        <label><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.currentTarget as HTMLInputElement).checked)} /> Follow</label>
        <label><input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps((e.currentTarget as HTMLInputElement).checked)} /> Timestamps</label>
        <label>Search <input type="search" value={search} onInput={(e) => setSearch((e.currentTarget as HTMLInputElement).value)} /></label>
        <button type="button" onClick={() => download(id, shown)}>Download</button>
        <span class="muted" aria-live="polite">{search ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`}</span>
      </div>
      <ErrorLine error={error} />
      <pre class="logview" ref={view} tabIndex={0} aria-label="Log output" data-testid="logs">
        {shown.map((l) => <div key={l.n} class={l.err ? 'stderr' : undefined}>{l.text}</div>)}
      </pre>
    </div>
  );
}
