// `--change` for import and commit: the Dockerfile instructions that only
// touch image metadata. (The build issue brings the full Dockerfile parser;
// these one-liners need only the JSON-or-shell form and key=value pairs.)
import { InvalidArgumentError } from '../errors.ts';
import type { ContainerConfig } from '../api/container.ts';

const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

function jsonOrShell(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch {
      // Not JSON: shell form, as the Dockerfile parser treats it.
    }
  }
  return ['/bin/sh', '-c', t];
}

function unquote(s: string): string {
  if (s.length >= 2 && ((s[0] === '"' && s.endsWith('"')) || (s[0] === "'" && s.endsWith("'")))) {
    return s[0] === '"' ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s.slice(1, -1);
  }
  return s.replace(/\\(.)/g, '$1');
}

/** Splits `a=1 b="x y"` into pairs, honouring quotes and backslash escapes. */
function keyValues(rest: string, instr: string): [string, string][] {
  const words: string[] = [];
  let cur = '';
  let quote = '';
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i];
    if (ch === '\\' && quote !== "'" && i + 1 < rest.length) {
      cur += ch + rest[++i];
    } else if (quote) {
      cur += ch;
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
    } else if (/\s/.test(ch)) {
      if (cur) words.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) words.push(cur);
  if (words.length === 0) throw new InvalidArgumentError(`${instr} requires at least one argument`);
  if (!words[0].includes('=')) {
    // Legacy form: `ENV key value with spaces`.
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) throw new InvalidArgumentError(`${instr} must have two arguments`);
    return [[m[1], m[2].trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    return [unquote(w.slice(0, eq)), unquote(w.slice(eq + 1))];
  });
}

/** Applies each `--change` line to `config` (mutated and returned). */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  for (const line of changes) {
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(line);
    if (!m) continue;
    const instr = m[1].toUpperCase();
    const rest = m[2];
    if (!ALLOWED.includes(instr)) throw new InvalidArgumentError(`${m[1].toLowerCase()} is not a valid change command`);
    switch (instr) {
      case 'CMD': config.Cmd = jsonOrShell(rest); break;
      case 'ENTRYPOINT': config.Entrypoint = jsonOrShell(rest); break;
      case 'ENV': {
        const env = config.Env ?? [];
        for (const [k, v] of keyValues(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        config.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = config.Labels ?? {};
        for (const [k, v] of keyValues(rest, 'LABEL')) labels[k] = v;
        config.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = config.ExposedPorts ?? {};
        for (const p of rest.trim().split(/\s+/).filter(Boolean)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        config.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = config.Volumes ?? {};
        const list = rest.trim().startsWith('[') ? (JSON.parse(rest) as string[]) : rest.trim().split(/\s+/);
        for (const v of list) vols[v] = {};
        config.Volumes = vols;
        break;
      }
      case 'USER': config.User = rest.trim(); break;
      case 'WORKDIR': config.WorkingDir = rest.trim(); break;
      case 'STOPSIGNAL': config.StopSignal = rest.trim(); break;
      case 'ONBUILD': config.OnBuild = [...(config.OnBuild ?? []), rest.trim()]; break;
    }
  }
  return config;
}
