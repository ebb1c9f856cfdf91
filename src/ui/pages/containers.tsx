// Containers: a live list (polled, and refreshed on every container event)
// with their lifecycle actions, and the Run dialog.
import { useEffect, useState } from 'preact/hooks';
import { call, jsonLines } from '../api.ts';
import { ErrorLine, shortId, useAction, usePolled } from '../common.tsx';
import { RunDialog } from './run-dialog.tsx';
import { Sparklines, useSparklines } from '../sparkline.tsx';
import { PROJECT, projectDown, projectRestart, projectStop, projectUp, SERVICE } from '../compose-actions.ts';

interface Port { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }
export interface ContainerSummary {
  Id: string; Names: string[]; Image: string; State: string; Status: string; Ports: Port[]; Command: string; Labels?: Record<string, string>;
}


const name = (c: ContainerSummary): string => (c.Names[0] ?? shortId(c.Id)).replace(/^\//, '');

/** The health a summary's Status carries: `Up 3 minutes (healthy)`. */
function health(status: string): string | undefined {
  return /\((healthy|unhealthy|health: starting)\)/.exec(status)?.[1];
}

/** Where a published port is reached from this browser: its address, or this page's host for a wildcard. */
function hostOf(ip: string | undefined): string {
  if (!ip || ip === '0.0.0.0' || ip === '::') return location.hostname;
  return ip.includes(':') ? `[${ip}]` : ip;
}

function PortLinks({ ports }: { ports: Port[] }) {
  const seen = new Set<string>();
  const shown = ports.filter((p) => {
    const k = `${p.PublicPort}:${p.PrivatePort}/${p.Type}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return (
    <>
      {shown.map((p) => p.PublicPort && p.Type === 'tcp'
        ? <a class="port" href={`http://${hostOf(p.IP)}:${p.PublicPort}/`} target="_blank" rel="noopener noreferrer">{p.PublicPort}→{p.PrivatePort}/{p.Type}</a>
        : <span class="port">{p.PublicPort ? `${p.PublicPort}→` : ''}{p.PrivatePort}/{p.Type}</span>)}
    </>
  );
}

export function ContainersPage() {
  const { data, error: loadError, refresh } = usePolled(() => call<ContainerSummary[]>('GET', '/containers/json', { query: { all: true } }), 5000);
  const [error, act] = useAction();
  const [running, setRunning] = useState(false);

  // Container events refresh the list (a burst of them once, 200 ms after its
  // first); the polling covers a lost stream.
  useEffect(() => {
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const soon = (): void => {
      timer ??= setTimeout(() => { timer = undefined; refresh(); }, 200);
    };
    void jsonLines('/events', { filters: JSON.stringify({ type: ['container'] }) }, soon, ctl.signal).catch(() => undefined);
    return () => { ctl.abort(); clearTimeout(timer); };
  }, []);

  const action = (c: ContainerSummary, what: string) => act(async () => {
    if (what === 'remove') {
      if (!confirm(`Remove container ${name(c)}${c.State === 'running' ? ' (it is running: it will be killed)' : ''}?`)) return;
      await call('DELETE', `/containers/${c.Id}`, { query: { force: true } });
    } else {
      await call('POST', `/containers/${c.Id}/${what}`);
    }
    refresh();
  });

  // Compose's containers grouped by project (Docker's well-known labels), the others first.
  const [projectDone, setProjectDone] = useState('');
  const projectAction = (project: string, members: ContainerSummary[], what: 'up' | 'stop' | 'restart' | 'down') => act(async () => {
    if (what === 'down' && !confirm(`Down project ${project}: stop and remove its ${members.length} containers and its networks (its volumes are kept)?`)) return;
    setProjectDone('');
    try {
      if (what === 'up') await projectUp(members);
      else if (what === 'stop') await projectStop(members);
      else if (what === 'restart') await projectRestart(members);
      else {
        const nets = await projectDown(project, members);
        setProjectDone(`Project ${project} is down: ${members.length} containers removed${nets.length ? `, networks ${nets.join(', ')} removed` : ''}; volumes kept`);
      }
    } finally {
      refresh();
    }
  });

  const list = data ?? [];
  const sparks = useSparklines(list.filter((c) => c.State === 'running').map((c) => c.Id));
  const projects = new Map<string, ContainerSummary[]>();
  const loose: ContainerSummary[] = [];
  for (const c of list) {
    const p = c.Labels?.[PROJECT];
    if (p) (projects.get(p) ?? projects.set(p, []).get(p)!).push(c);
    else loose.push(c);
  }
  const row = (c: ContainerSummary) => {
    const h = health(c.Status);
    const up = c.State === 'running';
    const service = c.Labels?.[SERVICE];
    return (
      <tr key={c.Id} data-name={name(c)}>
        <th scope="row"><a href={`#/containers/${encodeURIComponent(name(c))}`}>{name(c)}</a>{service && <small class="muted"> service {service}</small>}</th>
        <td><span class={`state state-${c.State}`}>{c.State}</span>{h && <span class={`health health-${h.replace(/\W+/g, '-')}`}>{h}</span>}</td>
        <td>{c.Image}</td>
        <td>{c.Status}</td>
        <td><PortLinks ports={c.Ports} /></td>
        <td>{c.State === 'running' ? <Sparklines s={sparks.get(c.Id)} /> : null}</td>
        <td class="actions">
          {!up && c.State !== 'paused' && <button type="button" onClick={() => action(c, 'start')} aria-label={`Start ${name(c)}`}>Start</button>}
          {up && <button type="button" onClick={() => action(c, 'stop')} aria-label={`Stop ${name(c)}`}>Stop</button>}
          <button type="button" onClick={() => action(c, 'restart')} aria-label={`Restart ${name(c)}`}>Restart</button>
          {up && <button type="button" onClick={() => action(c, 'pause')} aria-label={`Pause ${name(c)}`}>Pause</button>}
          {c.State === 'paused' && <button type="button" onClick={() => action(c, 'unpause')} aria-label={`Unpause ${name(c)}`}>Unpause</button>}
          {up && <button type="button" onClick={() => action(c, 'kill')} aria-label={`Kill ${name(c)}`}>Kill</button>}
          <button type="button" class="danger" onClick={() => action(c, 'remove')} aria-label={`Remove ${name(c)}`}>Remove</button>
        </td>
      </tr>
    );
  };
  return (
    <section aria-labelledby="containers-h">
      <div class="bar">
        <h1 id="containers-h">Containers</h1>
        <button type="button" class="primary" onClick={() => setRunning(true)}>Run a container…</button>
      </div>
      <ErrorLine error={error ?? loadError} />
      <p class="muted" role="status">{projectDone}</p>
      {running && <RunDialog onClose={(created) => { setRunning(false); if (created) refresh(); }} />}
      <table class="list">
        <caption class="sr-only">Containers, {list.length} in all</caption>
        <thead>
          <tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Image</th><th scope="col">Status</th><th scope="col">Ports</th><th scope="col">CPU / memory</th><th scope="col">Actions</th></tr>
        </thead>
        <tbody>
          {list.length === 0 && <tr><td colSpan={7} class="empty">{data ? 'No containers.' : 'Loading…'}</td></tr>}
          {loose.map(row)}
        </tbody>
        {[...projects].sort(([a], [b]) => a.localeCompare(b)).map(([project, members]) => (
          <tbody key={project} class="project" data-project={project}>
            <tr class="project-head">
              <th scope="rowgroup" colSpan={6}>Compose project {project} <small class="muted">({members.filter((c) => c.State === 'running').length} of {members.length} running)</small></th>
              <td class="actions">
                <button type="button" onClick={() => projectAction(project, members, 'up')} aria-label={`Up project ${project} (start its containers)`}>Up</button>
                <button type="button" onClick={() => projectAction(project, members, 'stop')} aria-label={`Stop project ${project}`}>Stop</button>
                <button type="button" onClick={() => projectAction(project, members, 'restart')} aria-label={`Restart project ${project}`}>Restart</button>
                <button type="button" class="danger" onClick={() => projectAction(project, members, 'down')} aria-label={`Down project ${project} (remove its containers and networks)`}>Down</button>
              </td>
            </tr>
            {members.sort((a, b) => name(a).localeCompare(name(b))).map(row)}
          </tbody>
        ))}
      </table>
    </section>
  );
}
