// A container's logs: the last lines, then followed; timestamps on demand; a
// search that shows only the lines containing it; a download of what is shown.
// Lines arrive in bursts (thousands a second): each burst is appended to the
// page once, as one text node, outside Preact's diffing, and the oldest are
// dropped past MAX_LINES, so a flood never freezes the page.
import { Component } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { errorText, logStream } from '../api.ts';
import { ErrorLine } from '../common.tsx';

const MAX_LINES = 10_000;

/** Lines that came together from one stream. */
interface Batch { lines: string[]; err: boolean }

/** The <pre> the lines are written into directly; Preact renders it once and never again. */
class LogPane extends Component<{ paneRef: (el: HTMLPreElement | null) => void }> {
  override shouldComponentUpdate(): boolean {
    return false;
  }
  override render() {
    return <pre class="logview" ref={this.props.paneRef} tabIndex={0} aria-label="Log output" data-testid="logs" />;
  }
}

function download(id: string, lines: string[]): void {
  const url = URL.createObjectURL(new Blob([lines.map((l) => l + '\n').join('')], { type: 'text/plain' }));
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
  const [counts, setCounts] = useState({ all: 0, shown: 0 });
  const [error, setError] = useState<string>();
  const pane = useRef<HTMLPreElement | null>(null);
  const batches = useRef<Batch[]>([]);
  const searchRef = useRef('');
  const followRef = useRef(follow);
  followRef.current = follow;

  const total = (): number => batches.current.reduce((n, b) => n + b.lines.length, 0);
  const visible = (b: Batch): string[] => (searchRef.current ? b.lines.filter((l) => l.includes(searchRef.current)) : b.lines);
  const append = (b: Batch): void => {
    const el = pane.current;
    if (!el) return;
    const shown = visible(b);
    if (shown.length) {
      const div = document.createElement('div');
      if (b.err) div.className = 'stderr';
      div.textContent = shown.join('\n');
      el.appendChild(div);
    }
  };
  const redraw = (): void => {
    const el = pane.current;
    if (!el) return;
    el.replaceChildren();
    for (const b of batches.current) append(b);
    setCounts({ all: total(), shown: batches.current.reduce((n, b) => n + visible(b).length, 0) });
  };

  useEffect(() => {
    const ctl = new AbortController();
    const partial = ['', '', ''];
    let pending: Batch[] = [];
    batches.current = [];
    redraw();
    setError(undefined);
    let frame = 0;
    const flush = (): void => {
      frame = 0;
      const el = pane.current;
      if (!el || !pending.length) return;
      const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      for (const b of pending) {
        batches.current.push(b);
        append(b);
      }
      pending = [];
      // Past the cap, the oldest batches go, from memory and from the page.
      let n = total();
      let trimmed = false;
      while (n > MAX_LINES && batches.current.length > 1) {
        n -= batches.current.shift()!.lines.length;
        trimmed = true;
        if (!searchRef.current) el.firstChild?.remove();
      }
      // Under a search, a dropped batch may or may not have had a div: draw again.
      if (searchRef.current && trimmed) redraw();
      else setCounts({ all: n, shown: searchRef.current ? batches.current.reduce((k, b) => k + visible(b).length, 0) : n });
      if (followRef.current && atBottom) el.scrollTop = el.scrollHeight;
    };
    void logStream(id, { stdout: true, stderr: true, follow, timestamps, tail: 500 }, tty, (text, stream) => {
      const parts = (partial[stream] + text).split('\n');
      partial[stream] = parts.pop() ?? '';
      if (!parts.length) return;
      const err = stream === 2;
      const last = pending[pending.length - 1];
      const lines = parts.map((p) => p.replace(/\r$/, ''));
      if (last && last.err === err) last.lines.push(...lines);
      else pending.push({ lines, err });
      frame ||= requestAnimationFrame(flush);
    }, ctl.signal).catch((err) => {
      if (!ctl.signal.aborted) setError(errorText(err));
    });
    return () => {
      ctl.abort();
      cancelAnimationFrame(frame);
    };
  }, [id, follow, timestamps]);

  // Before the browser paints: the lines shown and the search box never disagree.
  useLayoutEffect(() => {
    searchRef.current = search;
    redraw();
  }, [search]);

  const shownLines = (): string[] => batches.current.flatMap(visible);
  return (
    <div class="logs">
      <div class="bar">
        <label><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.currentTarget as HTMLInputElement).checked)} /> Follow</label>
        <label><input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps((e.currentTarget as HTMLInputElement).checked)} /> Timestamps</label>
        <label>Search <input type="search" value={search} onInput={(e) => setSearch((e.currentTarget as HTMLInputElement).value)} /></label>
        <button type="button" onClick={() => download(id, shownLines())}>Download</button>
        <span class="muted">{search ? `${counts.shown} of ${counts.all} lines` : `${counts.all} lines`}</span>
      </div>
      <ErrorLine error={error} />
      <LogPane paneRef={(el) => { pane.current = el; }} />
    </div>
  );
}
