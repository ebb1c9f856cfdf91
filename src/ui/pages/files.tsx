// Files inside the container, through the archive API: a path's details,
// its download (a file as itself, a directory as a tar), and an upload of a
// file into a directory.
import { useState } from 'preact/hooks';
import { API, getBytes, putTar } from '../api.ts';
import { bytes as size, ErrorLine, useAction } from '../common.tsx';
import { firstFile, tarOneFile } from '../tar.ts';

interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

const STAT = 'x-docker-container-path-stat';

function decodeStat(h: string | null): PathStat | undefined {
  if (!h) return undefined;
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(h), (c) => c.charCodeAt(0)))) as PathStat;
}

const isDir = (s: PathStat): boolean => Math.floor(s.mode / 2 ** 31) % 2 === 1;

function save(name: string, data: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([data as BlobPart]));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function FilesView({ id }: { id: string }) {
  const [path, setPath] = useState('/');
  const [stat, setStat] = useState<PathStat>();
  const [file, setFile] = useState<File>();
  const [done, setDone] = useState('');
  const [error, act] = useAction();

  const look = (e: Event) => act(async () => {
    e.preventDefault();
    setDone('');
    const res = await fetch(`${API}/containers/${id}/archive?path=${encodeURIComponent(path)}`, { method: 'HEAD' });
    if (!res.ok) throw new Error(res.status === 404 ? `Could not find the file ${path} in container ${id.slice(0, 12)}` : `HEAD ${path}: ${res.status}`);
    setStat(decodeStat(res.headers.get(STAT)));
  });

  const download = () => act(async () => {
    const { bytes, header } = await getBytes(`/containers/${id}/archive`, { path }, STAT);
    const s = decodeStat(header);
    const f = s && !isDir(s) ? firstFile(bytes) : undefined;
    if (f) save(f.name.split('/').pop()!, f.data);
    else save(`${(s?.name || 'archive').replace(/^\/$/, 'root')}.tar`, bytes);
  });

  const upload = (e: Event) => act(async () => {
    e.preventDefault();
    if (!file) throw new Error('choose a file to upload');
    await putTar(`/containers/${id}/archive`, { path }, tarOneFile(file.name, new Uint8Array(await file.arrayBuffer())));
    setDone(`Uploaded ${file.name} into ${path}`);
  });

  return (
    <div class="files">
      <form class="bar" onSubmit={look}>
        <label for="files-path">Path in the container</label>
        <input id="files-path" type="text" value={path} onInput={(e) => setPath((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Show</button>
        <button type="button" onClick={download}>Download</button>
      </form>
      {stat && (
        <dl class="stat" aria-label="Path details">
          <dt>Name</dt><dd>{stat.name}</dd>
          <dt>Kind</dt><dd>{isDir(stat) ? 'directory' : stat.linkTarget ? `link to ${stat.linkTarget}` : 'file'}</dd>
          <dt>Size</dt><dd>{size(stat.size)}</dd>
          <dt>Modified</dt><dd>{new Date(stat.mtime).toLocaleString()}</dd>
        </dl>
      )}
      <form class="bar" onSubmit={upload}>
        <label for="files-upload">Upload a file into the path above (a directory)</label>
        <input id="files-upload" type="file" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0])} />
        <button type="submit">Upload</button>
        <span class="muted" role="status">{done}</span>
      </form>
      <ErrorLine error={error} />
    </div>
  );
}
