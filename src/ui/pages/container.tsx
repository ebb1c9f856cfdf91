// One container: its state and actions, live logs, a terminal, stats, inspect.
import { useEffect, useState } from 'preact/hooks';
import { call } from '../api.ts';
import { ErrorLine, shortId, useAction, usePolled } from '../common.tsx';
import { LogsView } from './logs.tsx';
import { lazyView } from '../lazy.tsx';
import { JsonTree } from '../json-tree.tsx';
import { FilesView } from './files.tsx';

const TerminalView = lazyView<{ id: string }>(() => import('./terminal.tsx').then((m) => m.TerminalView));
const StatsView = lazyView<{ id: string }>(() => import('./stats.tsx').then((m) => m.StatsView));

export interface ContainerInfo {
  Id: string; Name: string; Created: string;
  State: { Status: string; Running: boolean; Paused: boolean; ExitCode: number; Health?: { Status: string } };
  Config: { Image: string; Tty: boolean; Cmd: string[] | null; Env: string[] };
}

const TABS = ['Logs', 'Terminal', 'Stats', 'Files', 'Inspect'] as const;
type Tab = (typeof TABS)[number];

export function ContainerPage({ id }: { id: string }) {
  const { data: info, error: loadError, refresh } = usePolled(() => call<ContainerInfo>('GET', `/containers/${encodeURIComponent(id)}/json`), 3000);
  const [tab, setTab] = useState<Tab>('Logs');
  const [error, act] = useAction();
  useEffect(() => {
    const wanted = /^#\/containers\/[^/]+\/(\w+)/.exec(location.hash)?.[1];
    const t = TABS.find((x) => x.toLowerCase() === wanted);
    if (t) setTab(t);
  }, []);
  const action = (what: string) => act(async () => {
    await call('POST', `/containers/${encodeURIComponent(id)}/${what}`);
    refresh();
  });
  const running = info?.State.Running === true && !info.State.Paused;
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.indexOf(tab);
    if (e.key === 'ArrowRight') setTab(TABS[(i + 1) % TABS.length]);
    else if (e.key === 'ArrowLeft') setTab(TABS[(i + TABS.length - 1) % TABS.length]);
    else return;
    e.preventDefault();
    setTimeout(() => (document.querySelector('[role=tab][aria-selected=true]') as HTMLElement | null)?.focus());
  };
  return (
    <section aria-labelledby="container-h">
      <p><a href="#/containers">← Containers</a></p>
      <div class="bar">
        <h1 id="container-h">{info ? info.Name.replace(/^\//, '') : id}</h1>
        {info && <span class={`state state-${info.State.Status}`}>{info.State.Status}{info.State.Health ? ` (${info.State.Health.Status})` : ''}</span>}
        {info && <span class="muted">{info.Config.Image} · {shortId(info.Id)}</span>}
        <span class="actions">
          {info && !info.State.Running && <button type="button" onClick={() => action('start')}>Start</button>}
          {running && <button type="button" onClick={() => action('stop')}>Stop</button>}
          {info && <button type="button" onClick={() => action('restart')}>Restart</button>}
        </span>
      </div>
      <ErrorLine error={error ?? loadError} />
      <div role="tablist" aria-label="Container views" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button type="button" role="tab" id={`tab-${t}`} aria-selected={t === tab} aria-controls={`panel-${t}`} tabIndex={t === tab ? 0 : -1} onClick={() => setTab(t)}>{t}</button>
        ))}
      </div>
      {info && (
        <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} class="panel">
          {tab === 'Logs' && <LogsView id={info.Id} tty={info.Config.Tty} />}
          {tab === 'Terminal' && (running ? <TerminalView id={info.Id} /> : <p>The container is not running: start it to open a terminal.</p>)}
          {tab === 'Stats' && (running ? <StatsView id={info.Id} /> : <p>The container is not running.</p>)}
          {tab === 'Files' && <FilesView id={info.Id} />}
          {tab === 'Inspect' && <JsonTree value={info} label="Inspect" />}
        </div>
      )}
    </section>
  );
}
