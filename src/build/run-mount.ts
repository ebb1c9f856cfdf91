// `RUN --mount=type=…,target=…`: BuildKit's run mounts, parsed as BuildKit
// does (CSV of key=value; `target`, `dst` and `destination` are one key).
import { posix } from 'node:path';
import { BuildStepError } from './copy.ts';

export interface RunMount {
  type: 'bind' | 'cache' | 'secret' | 'tmpfs';
  target: string;
  source?: string;
  from?: string;
  id?: string;
  readonly: boolean;
  rw: boolean;
  required: boolean;
  mode?: number;
  size?: string;
}

export function parseRunMount(spec: string, workdir: string): RunMount {
  const kv = new Map<string, string>();
  for (const part of spec.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    kv.set((eq < 0 ? part : part.slice(0, eq)).toLowerCase(), eq < 0 ? 'true' : part.slice(eq + 1));
  }
  const type = (kv.get('type') ?? 'bind') as RunMount['type'];
  if (!['bind', 'cache', 'secret', 'tmpfs'].includes(type)) throw new BuildStepError(`unsupported mount type "${type}"`);
  for (const k of kv.keys()) {
    if (!['type', 'target', 'dst', 'destination', 'source', 'src', 'from', 'id', 'readonly', 'ro', 'rw', 'readwrite', 'required', 'mode', 'uid', 'gid', 'sharing', 'size'].includes(k)) {
      throw new BuildStepError(`unexpected key '${k}' in '${spec}'`);
    }
  }
  const bool = (k: string) => kv.has(k) && kv.get(k) !== 'false';
  let target = kv.get('target') ?? kv.get('dst') ?? kv.get('destination');
  const id = kv.get('id');
  if (!target && type === 'secret') target = `/run/secrets/${id ?? ''}`;
  if (!target) throw new BuildStepError(`mount ${type} requires a target`);
  if (type === 'secret' && !id && !kv.get('target')) throw new BuildStepError('secret mount requires an id or a target');
  const mode = kv.get('mode');
  if (mode !== undefined && !/^[0-7]{1,4}$/.test(mode)) throw new BuildStepError(`invalid mode ${mode}`);
  return {
    type,
    target: posix.resolve(workdir, target),
    source: kv.get('source') ?? kv.get('src'),
    from: kv.get('from'),
    id: type === 'secret' ? (id ?? posix.basename(target)) : id,
    readonly: bool('readonly') || bool('ro'),
    rw: bool('rw') || bool('readwrite'),
    required: bool('required'),
    mode: mode === undefined ? undefined : parseInt(mode, 8),
    size: kv.get('size'),
  };
}
