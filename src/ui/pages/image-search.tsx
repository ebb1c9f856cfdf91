// The Run dialog's image search: local images as the field's suggestions,
// and a registry search (GET /images/search, as `docker search`: a term
// `host:port/word` searches that registry, a bare word Docker Hub).
import { useEffect, useState } from 'preact/hooks';
import { call, errorText } from '../api.ts';

interface SearchResult { name: string; description: string; star_count: number; is_official: boolean }

/** The repository to run for a result: the registry the term named, then the result's name. */
export function resultReference(term: string, name: string): string {
  const slash = term.indexOf('/');
  const first = slash > 0 ? term.slice(0, slash) : '';
  const registry = first && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : '';
  return registry ? `${registry}/${name}` : name;
}

/** A <datalist> of the local images' names, for the image field's `list`. */
export function LocalImages({ id }: { id: string }) {
  const [tags, setTags] = useState<string[]>([]);
  useEffect(() => {
    call<{ RepoTags: string[] | null }[]>('GET', '/images/json').then(
      (list) => setTags([...new Set(list.flatMap((i) => i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'))].sort()),
      () => setTags([]),
    );
  }, []);
  return <datalist id={id}>{tags.map((t) => <option value={t} />)}</datalist>;
}

export function RegistrySearch({ term, onPick }: { term: string; onPick: (ref: string) => void }) {
  const [results, setResults] = useState<SearchResult[]>();
  const [searched, setSearched] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const search = async () => {
    // The tag is no part of a search: `localhost:5000/app:1` searches localhost:5000 for "app".
    const named = term.trim().replace(/@.*$/, '');
    const colon = named.lastIndexOf(':');
    const t = colon > named.lastIndexOf('/') ? named.slice(0, colon) : named;
    setError(undefined);
    setResults(undefined);
    if (!t) {
      setError('type a word (or registry/word) in the image field to search for it');
      return;
    }
    setBusy(true);
    try {
      setResults(await call<SearchResult[]>('GET', '/images/search', { query: { term: t, limit: 25 } }));
      setSearched(t);
    } catch (err) {
      setError(`Error response from daemon: ${errorText(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="search">
      <button type="button" onClick={() => void search()} disabled={busy} aria-describedby="search-hint">{busy ? 'Searching…' : 'Search the registry'}</button>
      <small id="search-hint"> for the image field's word (registry/word for a registry of your own)</small>
      {error && <p class="field-error" role="alert" id="search-error">{error}</p>}
      {results && (
        <ul class="search-results" aria-label={`Registry search results for ${searched}`}>
          {results.length === 0 && <li class="muted">No image matches {searched}.</li>}
          {results.map((r) => {
            const ref = resultReference(searched, r.name);
            return (
              <li key={r.name}>
                <button type="button" onClick={() => { onPick(ref); setResults(undefined); }} aria-label={`Use ${ref}`}>Use</button>
                {' '}<span class="mono">{ref}</span>{r.is_official ? ' (official)' : ''} <span class="muted">{r.description} ★{r.star_count}</span>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
