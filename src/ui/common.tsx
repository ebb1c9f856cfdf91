// Pieces every page uses: the error line, an action that reports its failure, sizes and ages.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './api.ts';

export function ErrorLine({ error }: { error: string | undefined }) {
  return <p class="error" role="alert" hidden={!error}>{error ? `Error response from daemon: ${error}` : ''}</p>;
}

/** Runs `fn` and keeps its failure's message (the daemon's) for the page to show. */
export function useAction(): [string | undefined, (fn: () => Promise<unknown>) => Promise<boolean>, (e: string | undefined) => void] {
  const [error, setError] = useState<string>();
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(errorText(err));
      return false;
    }
  }, []);
  return [error, run, setError];
}

/** Calls `load` now, every `ms`, and whenever `refresh()` is called; the latest result. */
export function usePolled<T>(load: () => Promise<T>, ms: number): { data: T | undefined; error: string | undefined; refresh: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const loadRef = useRef(load);
  loadRef.current = load;
  const refresh = useCallback(() => {
    loadRef.current().then((d) => { setData(d); setError(undefined); }, (err) => setError(errorText(err)));
  }, []);
  useEffect(() => {
    refresh();
    const t = setInterval(refresh, ms);
    return () => clearInterval(t);
  }, [ms]);
  return { data, error, refresh };
}

export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(n >= 10 ? 1 : 2)} ${units[i]}`;
}

export function ago(seconds: number): string {
  if (!(seconds > 0)) return 'N/A'; // an image without a creation time
  const d = Date.now() / 1000 - seconds;
  if (d < 60) return 'less than a minute ago';
  if (d < 3600) return `${Math.round(d / 60)} minutes ago`;
  if (d < 86400) return `${Math.round(d / 3600)} hours ago`;
  return `${Math.round(d / 86400)} days ago`;
}

export const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);
