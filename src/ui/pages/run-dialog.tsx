// The Run dialog: `berth run -d` as a form. Fields are checked as they are
// typed (the error next to its field), the equivalent command line is shown,
// and nothing is sent until every field is valid.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, jsonLines, pullQuery } from '../api.ts';
import { ErrorLine, useAction } from '../common.tsx';
import { buildRun, type RunForm } from '../run-request.ts';
import { LocalImages, RegistrySearch } from './image-search.tsx';

const EMPTY: RunForm = { image: '', name: '', command: '', ports: '', env: '', volumes: '', restart: 'no', network: 'default', memory: '', cpus: '', pids: '' };

function Field(p: { id: keyof RunForm; label: string; hint?: string; error?: string; multi?: boolean; list?: string; value: string; onInput: (v: string) => void }) {
  const describedBy = [p.hint ? `${p.id}-hint` : '', p.error ? `${p.id}-error` : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id: `run-${p.id}`, name: p.id, value: p.value, 'aria-invalid': p.error ? true : undefined, 'aria-describedby': describedBy,
    onInput: (e: Event) => p.onInput((e.currentTarget as HTMLInputElement).value),
  };
  return (
    <div class="field">
      <label for={`run-${p.id}`}>{p.label}</label>
      {p.multi ? <textarea rows={2} {...common} /> : <input type="text" autocomplete="off" spellcheck={false} list={p.list} {...common} />}
      {p.hint && <small id={`${p.id}-hint`}>{p.hint}</small>}
      {p.error && <p class="field-error" id={`${p.id}-error`} role="alert">{p.error}</p>}
    </div>
  );
}

export function RunDialog({ onClose }: { onClose: (created: boolean) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [form, setForm] = useState<RunForm>(EMPTY);
  const [touched, setTouched] = useState<Set<keyof RunForm>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState('');
  const [error, act, setError] = useAction();
  const [networks, setNetworks] = useState<string[]>([]);
  useEffect(() => {
    ref.current?.showModal();
    call<{ Name: string }[]>('GET', '/networks').then((l) => setNetworks(l.map((n) => n.Name).sort()), () => setNetworks([]));
  }, []);

  const built = buildRun(form);
  const shown = (k: keyof RunForm): string | undefined => (submitted || touched.has(k) ? built.errors?.[k] : undefined);
  const set = (k: keyof RunForm) => (v: string) => {
    // The daemon's last answer was about the form as it was.
    if (error) setError(undefined);
    setForm({ ...form, [k]: v });
    setTouched(new Set(touched).add(k));
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setSubmitted(true);
    if (built.errors) return;
    const { request } = built;
    const ok = await act(async () => {
      const create = () => call<{ Id: string }>('POST', '/containers/create', { query: { name: request.name || undefined }, body: request.body });
      let created;
      try {
        setBusy('Creating…');
        created = await create();
      } catch (err) {
        // As `berth run`: an image not here is pulled, then the create is tried again.
        if (!(err instanceof ApiError && err.status === 404 && /^No such image/.test(err.message))) throw err;
        setBusy(`Pulling ${request.body.Image as string}…`);
        const ctl = new AbortController();
        let pullError: string | undefined;
        await jsonLines<{ error?: string; errorDetail?: { message: string } }>('/images/create', pullQuery(request.body.Image as string), (m) => {
          if (m.error) pullError = m.errorDetail?.message ?? m.error;
        }, ctl.signal, 'POST');
        if (pullError) throw new Error(pullError);
        setBusy('Creating…');
        created = await create();
      }
      setBusy('Starting…');
      await call('POST', `/containers/${created.Id}/start`);
    });
    setBusy('');
    if (ok) {
      ref.current?.close();
      onClose(true);
    }
  };

  return (
    <dialog ref={ref} class="run" aria-labelledby="run-h" onClose={() => onClose(false)}>
      <form method="dialog" onSubmit={submit} noValidate>
        <h2 id="run-h">Run a container</h2>
        <Field id="image" label="Image" value={form.image} onInput={set('image')} error={shown('image')} hint="e.g. busybox:latest (local images are suggested)" list="local-images" />
        <LocalImages id="local-images" />
        <RegistrySearch term={form.image} onPick={set('image')} />
        <Field id="name" label="Name (optional)" value={form.name} onInput={set('name')} error={shown('name')} />
        <Field id="command" label="Command (optional)" value={form.command} onInput={set('command')} error={shown('command')} hint="as in a shell: sh -c 'echo hi'" />
        <Field id="ports" label="Ports" multi value={form.ports} onInput={set('ports')} error={shown('ports')} hint="one per line: 8080:80, 127.0.0.1:53:53/udp" />
        <Field id="env" label="Environment" multi value={form.env} onInput={set('env')} error={shown('env')} hint="one per line: KEY=VALUE" />
        <Field id="volumes" label="Volumes" multi value={form.volumes} onInput={set('volumes')} error={shown('volumes')} hint="one per line: /host/dir:/data, myvol:/data:ro, /anonymous" />
        <div class="field">
          <label for="run-restart">Restart policy</label>
          <select id="run-restart" value={form.restart} onChange={(e) => set('restart')((e.currentTarget as HTMLSelectElement).value)}>
            {['no', 'on-failure', 'always', 'unless-stopped'].map((p) => <option value={p}>{p}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="run-network">Network</label>
          <select id="run-network" value={form.network} onChange={(e) => set('network')((e.currentTarget as HTMLSelectElement).value)}>
            <option value="default">default (bridge)</option>
            {networks.filter((n) => n !== 'bridge').map((n) => <option value={n}>{n}</option>)}
          </select>
        </div>
        <fieldset class="limits-set">
          <legend>Resource limits (optional)</legend>
          <div class="limits">
            <Field id="memory" label="Memory" value={form.memory} onInput={set('memory')} error={shown('memory')} hint="e.g. 256m, 1g" />
            <Field id="cpus" label="CPUs" value={form.cpus} onInput={set('cpus')} error={shown('cpus')} hint="e.g. 0.5" />
            <Field id="pids" label="Processes (pids limit)" value={form.pids} onInput={set('pids')} error={shown('pids')} hint="e.g. 100, -1 unlimited" />
          </div>
        </fieldset>
        <div class="field">
          <span id="cmdline-label">Equivalent command</span>
          <output class="cmdline" aria-labelledby="cmdline-label" data-testid="cmdline">{built.errors ? '(fix the fields above)' : built.commandLine}</output>
        </div>
        <ErrorLine error={error} />
        <div class="buttons">
          <button type="button" onClick={() => { ref.current?.close(); }}>Cancel</button>
          <button type="submit" class="primary" disabled={busy !== ''}>{busy || 'Run'}</button>
        </div>
      </form>
    </dialog>
  );
}
