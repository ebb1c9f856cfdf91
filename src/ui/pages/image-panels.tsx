// An image's panels under the list: tag it, push one of its tags (with a
// progress bar per layer), its history.
import { useEffect, useState } from 'preact/hooks';
import { call, errorText, jsonLines, pullQuery } from '../api.ts';
import { ago, bytes, ErrorLine, shortId, useAction } from '../common.tsx';
import { LayerBars, useLayerProgress, type ProgressMessage } from '../progress.tsx';
import { parseNormalizedNamed } from '../../api/reference.ts';
import { CredentialFields, useCredentials } from '../credentials.tsx';

export interface ImageSummary { Id: string; RepoTags: string[] | null; RepoDigests: string[] | null; Size: number; Created: number; Containers?: number }

/** An image's names, sorted: a row keeps its label whatever order the daemon lists them in. */
export const tagsOf = (img: ImageSummary): string[] => (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>').sort();

/** A new name for the image, checked as `docker tag` checks it before anything is sent. */
export function checkTag(ref: string): string | undefined {
  if (!ref.trim()) return 'a repository name is required';
  try {
    const r = parseNormalizedNamed(ref.trim());
    if (r.digest) return 'refusing to create a tag with a digest reference';
  } catch (err) {
    return errorText(err);
  }
  return undefined;
}

export function TagPanel({ img, onDone }: { img: ImageSummary; onDone: () => void }) {
  const [ref, setRef] = useState('');
  const [touched, setTouched] = useState(false);
  const [error, act] = useAction();
  const fieldError = touched ? checkTag(ref) : undefined;
  const submit = (e: Event) => {
    e.preventDefault();
    setTouched(true);
    if (checkTag(ref)) return;
    void act(async () => {
      const { fromImage, tag } = pullQuery(ref.trim());
      await call('POST', `/images/${encodeURIComponent(img.Id)}/tag`, { query: { repo: fromImage, tag } });
      setRef('');
      setTouched(false);
      onDone();
    });
  };
  return (
    <form class="panel-box" onSubmit={submit} noValidate aria-labelledby="tag-h">
      <h2 id="tag-h">Tag {tagsOf(img)[0] ?? shortId(img.Id)}</h2>
      <div class="field">
        <label for="tag-ref">New name (repository[:tag])</label>
        <input id="tag-ref" type="text" value={ref} autocomplete="off" spellcheck={false} placeholder="localhost:5000/app:1"
          aria-invalid={fieldError ? true : undefined} aria-describedby={fieldError ? 'tag-ref-error' : undefined}
          onInput={(e) => { setRef((e.currentTarget as HTMLInputElement).value); setTouched(true); }} />
        {fieldError && <p class="field-error" id="tag-ref-error" role="alert">{fieldError}</p>}
      </div>
      <ErrorLine error={error} />
      <div class="buttons"><button type="submit" class="primary">Tag</button></div>
    </form>
  );
}

export function PushPanel({ img, onDone }: { img: ImageSummary; onDone: () => void }) {
  const tags = tagsOf(img);
  const [which, setWhich] = useState(tags[0] ?? '');
  const [pushing, setPushing] = useState(false);
  const [result, setResult] = useState('');
  const [error, act] = useAction();
  const progress = useLayerProgress();
  const [creds, setCreds, authHeaders] = useCredentials();
  const submit = (e: Event) => {
    e.preventDefault();
    void act(async () => {
      if (!which) throw new Error('the image has no name to push: tag it first');
      setPushing(true);
      setResult('');
      progress.reset();
      const { fromImage, tag } = pullQuery(which);
      let digest = '';
      try {
        await jsonLines<ProgressMessage & { aux?: { Digest?: string } }>(`/images/${encodeURIComponent(fromImage)}/push`, { tag }, (m) => {
          if (m.aux?.Digest) digest = m.aux.Digest;
          progress.onMessage(m);
        }, new AbortController().signal, 'POST', authHeaders(which));
        setResult(`Pushed ${which}${digest ? ` (${digest})` : ''}`);
      } finally {
        setPushing(false);
        onDone();
      }
    });
  };
  return (
    <form class="panel-box" onSubmit={submit} aria-labelledby="push-h">
      <h2 id="push-h">Push {tags[0] ?? shortId(img.Id)}</h2>
      {tags.length === 0 ? <p>This image has no name: tag it with a registry's name first.</p> : (
        <div class="field">
          <label for="push-tag">Name to push (its registry is the name's first part)</label>
          <select id="push-tag" value={which} onChange={(e) => setWhich((e.currentTarget as HTMLSelectElement).value)}>
            {tags.map((t) => <option value={t}>{t}</option>)}
          </select>
        </div>
      )}
      {tags.length > 0 && <CredentialFields id="push-creds" value={creds} onChange={setCreds} />}
      <LayerBars layers={progress.layers} label="Pushed layers" />
      <p class="muted" role="status">{result || progress.status}</p>
      <ErrorLine error={error} />
      <div class="buttons"><button type="submit" class="primary" disabled={pushing || tags.length === 0}>{pushing ? 'Pushing…' : 'Push'}</button></div>
    </form>
  );
}

interface HistoryEntry { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }

export function HistoryPanel({ img }: { img: ImageSummary }) {
  const [rows, setRows] = useState<HistoryEntry[]>();
  const [error, act] = useAction();
  useEffect(() => {
    void act(async () => setRows(await call<HistoryEntry[]>('GET', `/images/${encodeURIComponent(img.Id)}/history`)));
  }, [img.Id]);
  return (
    <section class="panel-box" aria-labelledby="history-h">
      <h2 id="history-h">History of {tagsOf(img)[0] ?? shortId(img.Id)}</h2>
      <ErrorLine error={error} />
      <table class="list">
        <caption class="sr-only">Layers and steps, newest first</caption>
        <thead><tr><th scope="col">Created</th><th scope="col">Created by</th><th scope="col">Size</th><th scope="col">Comment</th></tr></thead>
        <tbody>
          {(rows ?? []).map((h, i) => (
            <tr key={i}>
              <td>{ago(h.Created)}</td>
              <td class="mono history-by">{h.CreatedBy}</td>
              <td>{bytes(h.Size)}</td>
              <td>{h.Comment}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
