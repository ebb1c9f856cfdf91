// A page part whose code (and libraries: xterm.js, uPlot) is fetched only when
// it is first shown, so the first page loads without them.
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazyView<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | undefined;
  return function Lazy(props: P) {
    const [View, setView] = useState<ComponentType<P> | undefined>(() => loaded);
    const [error, setError] = useState<string>();
    useEffect(() => {
      if (!View) load().then((v) => { loaded = v; setView(() => v); }, (e: Error) => setError(e.message));
    }, []);
    if (error) return <p class="error" role="alert">{error}</p>;
    return View ? <View {...props} /> : <p class="muted">Loading…</p>;
  };
}
