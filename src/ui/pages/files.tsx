// Files inside the container, through the archive API only: a directory is
// listed from the headers of its tar as it streams in (GET; bodies are
// skipped, not kept), a path's details come from its stat (HEAD), a file or
// a directory downloads (a file as itself, a directory as a tar), and a file
// uploads into the directory listed (PUT).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, getBytes, head, putTar, streamBytes } from '../api.ts';
import { bytes as size, ErrorLine, useAction } from '../common.tsx';
import { firstFile, tarOneFile } from '../tar.ts';
import { childrenOf, TarLister, type TarEntry } from '../tar-list.ts';

interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

const STAT = 'x-docker-container-path-stat';

function decodeStat(h: string | null): PathStat | undefined {
  if (!h) return undefined;
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(h), (c) => c.charCodeAt(0)))) as PathStat;
}

/** Go's os.ModeDir bit, as the stat header carries the mode. */
const isDir = (s: PathStat): boolean => Math.floor(s.mode / 2 ** 31) % 2 === 1;

const join = (dir: string, name: string): string => `${dir.replace(/\/+$/, '')}/${name}`;
const parent = (p: string): string => p.replace(/\/+$/, '').replace(/\/[^/]*$/, '') || '/';

function save(name: string, data: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([data as BlobPart]));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

interface Child { name: string; entry: TarEntry }

const KIND: Record<string, string> = { '0': 'file', '5': 'directory', '2': 'link', '1': 'hard link', '3': 'device', '4': 'device', '6': 'fifo' };

export function FilesView({ id }: { id: string }) {
  const [path, setPath] = useState('/');
  const [typed, setTyped] = useState('/');
  const [stat, setStat] = useState<PathStat>();
  const [children, setChildren] = useState<Child[]>();
  const [read, setRead] = useState(0);
  const [listing, setListing] = useState(false);
  const [file, setFile] = useState<File>();
  const [done, setDone] = useState('');
  const [error, act, setError] = useAction();
  const ctl = useRef<AbortController | undefined>(undefined);

  const notFound = (p: string) => (err: unknown) => {
    throw err instanceof ApiError && err.status === 404 ? new Error(`Could not find the file ${p} in container ${id.slice(0, 12)}`) : err;
  };

  /** Stats `p`; a directory is listed from its tar's headers as they stream in. */
  const open = (p: string) => act(async () => {
    // A path that is not there leaves the view as it was, with the error above it.
    const s = decodeStat(await head(`/containers/${id}/archive`, { path: p }, STAT).catch(notFound(p)));
    ctl.current?.abort();
    setDone('');
    setChildren(undefined);
    setPath(p);
    setTyped(p);
    setStat(s);
    if (!s || !isDir(s)) return;
    const c = new AbortController();
    ctl.current = c;
    const lister = new TarLister();
    const found: Child[] = [];
    let root: string | undefined;
    let total = 0;
    let shown = 0;
    setListing(true);
    setRead(0);
    try {
      await streamBytes(`/containers/${id}/archive`, { path: p }, c.signal, (chunk) => {
        total += chunk.length;
        lister.push(chunk, (e) => {
          if (root === undefined) { root = e.name; return; }
          const name = childrenOf(root, e);
          if (name) found.push({ name, entry: e });
        });
        // A redraw per 100 entries or so, not per chunk.
        if (found.length - shown >= 100) { shown = found.length; setChildren([...found]); }
        setRead(total);
        return !lister.done;
      });
      setChildren(found.sort((a, b) => a.name.localeCompare(b.name)));
    } catch (err) {
      if (c.signal.aborted) { setChildren(found); setDone(`Listing stopped after ${size(total)}: the list is incomplete`); return; }
      throw err;
    } finally {
      setListing(false);
    }
  });

  // Nothing is read until asked: a listing reads the directory's whole tree,
  // and a running container is frozen while its archive is read.
  useEffect(() => () => ctl.current?.abort(), [id]);

  const download = (p: string) => act(async () => {
    const { bytes, header } = await getBytes(`/containers/${id}/archive`, { path: p }, STAT).catch(notFound(p));
    const s = decodeStat(header);
    const f = s && !isDir(s) ? firstFile(bytes) : undefined;
    if (f) save(f.name.split('/').pop()!, f.data);
    else save(`${(s?.name || 'archive').replace(/^\/$/, 'root')}.tar`, bytes);
  });

  const upload = (e: Event) => {
    e.preventDefault();
    if (!file) {
      setError('choose a file to upload');
      return;
    }
    void act(async () => {
      await putTar(`/containers/${id}/archive`, { path }, tarOneFile(file.name, new Uint8Array(await file.arrayBuffer())));
      await open(path);
      setDone(`Uploaded ${file.name} into ${path}`);
    });
  };

  const dir = stat && isDir(stat);
  return (
    <div class="files">
      <form class="bar" onSubmit={(e) => { e.preventDefault(); void open(typed.trim() || '/'); }}>
        <label for="files-path">Path in the container</label>
        <input id="files-path" type="text" value={typed} onInput={(e) => setTyped((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Open</button>
        <button type="button" onClick={() => download(typed.trim() || path)}>Download</button>
        {path !== '/' && <button type="button" onClick={() => open(parent(path))} aria-label={`Up to ${parent(path)}`}>Up</button>}
      </form>
      <ErrorLine error={error} />
      {!stat && !error && <p class="muted">Open a directory to list it. A listing reads the directory's whole tree through the archive API (it has no shallower read), and a running container is frozen while it is read: prefer a small directory to <span class="mono">/</span> in a large container.</p>}
      {stat && (
        <dl class="stat" aria-label="Path details">
          <dt>Name</dt><dd>{stat.name}</dd>
          <dt>Kind</dt><dd>{isDir(stat) ? 'directory' : stat.linkTarget ? `link to ${stat.linkTarget}` : 'file'}</dd>
          <dt>Size</dt><dd>{size(stat.size)}</dd>
          <dt>Modified</dt><dd>{new Date(stat.mtime).toLocaleString()}</dd>
        </dl>
      )}
      {listing && (
        <p class="muted" role="status">Reading {path}: {size(read)} of its tar so far… <button type="button" onClick={() => ctl.current?.abort()}>Stop</button></p>
      )}
      {dir && children && (
        <table class="list files-list">
          <caption class="sr-only">Contents of {path}</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Size</th><th scope="col">Modified</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {children.length === 0 && <tr><td colSpan={5} class="empty">{listing ? 'Reading…' : 'Empty directory.'}</td></tr>}
            {children.map(({ name, entry }) => (
              <tr key={name} data-file={name}>
                <th scope="row">{entry.type === '5'
                  ? <button type="button" class="linkish" onClick={() => open(join(path, name))} aria-label={`Open directory ${name}`}>{name}/</button>
                  : <span class="mono">{name}</span>}</th>
                <td>{KIND[entry.type] ?? entry.type}{entry.type === '2' ? ` → ${entry.linkname}` : ''}</td>
                <td>{entry.type === '0' ? size(entry.size) : ''}</td>
                <td>{entry.mtime ? new Date(entry.mtime * 1000).toLocaleString() : ''}</td>
                <td><button type="button" onClick={() => download(join(path, name))} aria-label={`Download ${name}`}>Download</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="bar" onSubmit={upload}>
        <label for="files-upload">Upload a file into {dir ? path : 'the directory listed'}</label>
        <input id="files-upload" type="file" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0])} />
        <button type="submit" disabled={!dir}>Upload</button>
        <span class="muted" role="status">{done}</span>
      </form>
    </div>
  );
}
