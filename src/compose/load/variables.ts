// The variables a compose model uses, with their defaults, alternative values
// and whether they are required (`config --variables`, compose-go's
// template.ExtractVariables).
import { isMapping } from './errors.ts';

export interface Variable {
  Name: string;
  DefaultValue: string;
  PresenceValue: string;
  Required: boolean;
}

function closing(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function fromString(s: string, out: Map<string, Variable>): void {
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '$') continue;
    const next = s[i + 1];
    if (next === '$') { i++; continue; }
    const named = /^[_a-zA-Z][_a-zA-Z0-9]*/.exec(s.slice(i + 1));
    if (named) {
      out.set(named[0], { Name: named[0], DefaultValue: '', PresenceValue: '', Required: false });
      i += named[0].length;
      continue;
    }
    if (next !== '{') continue;
    const end = closing(s, i + 1);
    if (end < 0) continue;
    const m = /^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[-+?])([\s\S]*))?$/.exec(s.slice(i + 2, end));
    if (m) {
      const [, name, op = '', arg = ''] = m;
      const v: Variable = { Name: name, DefaultValue: '', PresenceValue: '', Required: op.endsWith('?') };
      if (op.endsWith('-')) v.DefaultValue = arg;
      if (op.endsWith('+')) v.PresenceValue = arg;
      out.set(name, v);
      // Variables inside a default or an alternative are the model's too.
      if (v.DefaultValue) fromString(v.DefaultValue, out);
      if (v.PresenceValue) fromString(v.PresenceValue, out);
    }
    i = end;
  }
}

export function extractVariables(model: unknown): Map<string, Variable> {
  const out = new Map<string, Variable>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') fromString(v, out);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (isMapping(v)) Object.values(v).forEach(walk);
  };
  walk(model);
  return out;
}
