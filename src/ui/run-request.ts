// The Run dialog's form → the create request `berth run -d` sends for the
// same flags, and that command line. Fields are checked here, before
// anything is sent, with the CLI's wording where it has one.
import { parsePortSpecs, PortSpecError } from '../api/port-spec.ts';
import { ramInBytes } from '../api/units.ts';

export interface RunForm {
  image: string;
  name: string;
  command: string;
  /** One spec per line (or comma-separated): `8080:80`, `127.0.0.1:53:53/udp`. */
  ports: string;
  /** KEY=VALUE, one per line. */
  env: string;
  /** `-v` specs, one per line: `/host:/ctr[:ro]`, `vol:/ctr`, `/anon`. */
  volumes: string;
  restart: string;
  /** --network: `default` (the bridge) or a network's name. */
  network: string;
  /** -m: a size, `512m`. */
  memory: string;
  /** --cpus: a decimal number of CPUs. */
  cpus: string;
  /** --pids-limit: an integer, -1 for unlimited. */
  pids: string;
}

export type FieldErrors = Partial<Record<keyof RunForm, string>>;

export interface RunRequest {
  name: string;
  body: Record<string, unknown>;
}

const lines = (s: string): string[] => s.split(/[\n,]/).map((l) => l.trim()).filter(Boolean);

/** Words as a POSIX shell splits them (quotes and backslashes; no expansion). */
export function shellWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let any = false;
  let quote: '"' | "'" | '' = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote === "'") {
      if (c === "'") quote = '';
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = '';
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      any = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      any = true;
    } else if (/\s/.test(c)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += c;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (cur || any) out.push(cur);
  return out;
}

/** A word quoted for a shell only when it needs to be. */
export function shellQuote(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

const VOLUME_MODES = new Set(['ro', 'rw', 'z', 'Z', 'nocopy', 'copy', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

/** One `-v` spec; throws with what is wrong. Relative host paths have no meaning in a browser. */
export function checkVolume(spec: string): { anonymous: boolean } {
  const parts = spec.split(':');
  if (parts.some((p) => p === '')) throw new Error(`invalid spec: ${spec}: empty section between colons`);
  if (parts.length > 3) throw new Error(`invalid spec: ${spec}: too many colons`);
  if (parts.length === 1) {
    if (!parts[0].startsWith('/')) throw new Error(`invalid mount config: mount path must be absolute: ${parts[0]}`);
    return { anonymous: true };
  }
  const [source, dest, mode] = parts;
  if (!dest.startsWith('/')) throw new Error(`invalid mount config: mount path must be absolute: ${dest}`);
  if (source.startsWith('.') || source.startsWith('~')) throw new Error(`a host path must be absolute here: ${source}`);
  if (!source.startsWith('/') && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) {
    throw new Error(`"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  if (mode !== undefined) {
    for (const m of mode.split(',')) if (!VOLUME_MODES.has(m)) throw new Error(`invalid mode: ${mode}`);
  }
  return { anonymous: false };
}

export function checkRestart(policy: string): { Name: string; MaximumRetryCount: number } {
  const colon = policy.indexOf(':');
  const [name, count] = colon < 0 ? [policy, ''] : [policy.slice(0, colon), policy.slice(colon + 1)];
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name)) throw new Error(`invalid restart policy: ${policy}`);
  if (count !== '' && (name !== 'on-failure' || !/^\d+$/.test(count))) throw new Error('invalid restart policy format: maximum retry count must be an integer');
  return { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
}

/** -m, --cpus, --pids-limit as the docker CLI parses them (its words); undefined when empty. */
export function checkLimits(f: Pick<RunForm, 'memory' | 'cpus' | 'pids'>): { errors: Partial<Record<'memory' | 'cpus' | 'pids', string>>; memory: number; nanoCpus: number; pids: number | null } {
  const errors: Partial<Record<'memory' | 'cpus' | 'pids', string>> = {};
  const [memory, cpus, pids] = [f.memory.trim(), f.cpus.trim(), f.pids.trim()];
  let bytes = 0;
  if (memory) {
    try {
      bytes = ramInBytes(memory);
    } catch {
      errors.memory = `invalid argument "${memory}" for "-m, --memory" flag: invalid size: '${memory}'`;
    }
  }
  let nano = 0;
  if (cpus) {
    if (!/^(\d+\.?\d*|\.\d+)$/.test(cpus)) errors.cpus = `invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`;
    else if ((cpus.split('.')[1] ?? '').length > 9) errors.cpus = `invalid argument "${cpus}" for "--cpus" flag: value is too precise`;
    else nano = Math.round(Number(cpus) * 1e9);
  }
  let limit: number | null = null;
  if (pids) {
    if (!/^[-+]?\d+$/.test(pids)) errors.pids = `invalid argument "${pids}" for "--pids-limit" flag: strconv.ParseInt: parsing "${pids}": invalid syntax`;
    else limit = Number(pids);
  }
  return { errors, memory: bytes, nanoCpus: nano, pids: limit };
}

/** Checks every field; the request and the command line when all are valid. */
export function buildRun(f: RunForm): { errors: FieldErrors } | { errors: undefined; request: RunRequest; commandLine: string } {
  const errors: FieldErrors = {};
  const image = f.image.trim();
  if (!image) errors.image = 'an image is required';
  else if (/\s/.test(image)) errors.image = 'invalid reference format';
  else if (/[A-Z]/.test(image.split('@')[0].replace(/:[^/]*$/, ''))) errors.image = `invalid reference format: repository name (${image}) must be lowercase`;
  const name = f.name.trim();
  if (name && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) errors.name = `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`;
  let command: string[] = [];
  try {
    command = shellWords(f.command);
  } catch (err) {
    errors.command = (err as Error).message;
  }
  const portSpecs = lines(f.ports);
  let ports = parsePortSpecs([]);
  try {
    ports = parsePortSpecs(portSpecs);
  } catch (err) {
    if (!(err instanceof PortSpecError)) throw err;
    errors.ports = `invalid argument "${portSpecs.join(',')}" for "-p, --publish" flag: ${err.message}`;
  }
  const env = f.env.split('\n').map((l) => l.trim()).filter(Boolean);
  const badEnv = env.find((e) => !e.includes('=') || e.startsWith('='));
  if (badEnv) errors.env = `invalid environment variable: ${badEnv} (want KEY=VALUE)`;
  const volumeSpecs = [...new Set(lines(f.volumes))];
  const volumes: Record<string, Record<string, never>> = {};
  const binds: string[] = [];
  try {
    for (const v of volumeSpecs) {
      if (checkVolume(v).anonymous) volumes[v] = {};
      else binds.push(v);
    }
  } catch (err) {
    errors.volumes = (err as Error).message;
  }
  let restart = { Name: 'no', MaximumRetryCount: 0 };
  try {
    restart = checkRestart(f.restart.trim() || 'no');
  } catch (err) {
    errors.restart = (err as Error).message;
  }
  const limits = checkLimits(f);
  Object.assign(errors, limits.errors);
  const network = f.network.trim() || 'default';
  if (Object.keys(errors).length) return { errors };

  // The fields `berth run -d` sets for these flags, with its defaults for the rest.
  const body = {
    Hostname: '', Domainname: '', User: '',
    AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false,
    Env: env,
    Cmd: command.length ? command : null,
    Image: image,
    WorkingDir: '',
    Entrypoint: null,
    Labels: {},
    ...(Object.keys(ports.exposed).length ? { ExposedPorts: ports.exposed } : {}),
    ...(Object.keys(volumes).length ? { Volumes: volumes } : {}),
    HostConfig: {
      Binds: binds.length ? binds : null,
      NetworkMode: network,
      PortBindings: ports.bindings,
      RestartPolicy: restart,
      AutoRemove: false,
      Memory: limits.memory,
      NanoCpus: limits.nanoCpus,
      PidsLimit: limits.pids,
    },
    NetworkingConfig: { EndpointsConfig: {} },
  };
  const words = ['berth', 'run', '-d'];
  if (name) words.push('--name', name);
  for (const p of portSpecs) words.push('-p', p);
  for (const e of env) words.push('-e', e);
  for (const v of volumeSpecs) words.push('-v', v);
  if (restart.Name !== 'no') words.push('--restart', f.restart.trim());
  if (network !== 'default') words.push('--network', network);
  if (f.memory.trim()) words.push('--memory', f.memory.trim());
  if (f.cpus.trim()) words.push('--cpus', f.cpus.trim());
  if (f.pids.trim()) words.push('--pids-limit', f.pids.trim());
  words.push(image, ...command);
  return { errors: undefined, request: { name, body }, commandLine: words.map(shellQuote).join(' ') };
}
