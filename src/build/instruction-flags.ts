// Reading an instruction's flags (`--from=`, `--link`, `--chmod=`) and the
// small value grammars steps share, with BuildKit's errors.
import { BuildStepError } from './copy.ts';
import type { Instruction } from './dockerfile/index.ts';
import type { Stage } from './step-context.ts';

export function envMap(env: string[] | null | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) m.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return m;
}

export function setEnv(env: string[] | null | undefined, key: string, value: string): string[] {
  const out = (env ?? []).filter((e) => !e.startsWith(key + '='));
  out.push(`${key}=${value}`);
  return out;
}

/** Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
export function parseDuration(s: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== s.length || s === '') throw new BuildStepError(`Error parsing ${flag}: time: invalid duration "${s}"`);
  return Math.round(total);
}

export function flagValue(i: Instruction, name: string): string | undefined {
  let v: string | undefined;
  for (const f of i.flags) {
    if (f === `--${name}`) v = 'true';
    else if (f.startsWith(`--${name}=`)) v = f.slice(name.length + 3);
  }
  return v;
}

export function flagValues(i: Instruction, name: string): string[] {
  return i.flags.filter((f) => f.startsWith(`--${name}=`)).map((f) => f.slice(name.length + 3));
}

/** A boolean flag (`--link`, `--link=false`), parsed as Go's strconv.ParseBool, as BuildKit does. */
export function boolFlag(i: Instruction, name: string): boolean {
  const v = flagValue(i, name);
  if (v === undefined) return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new BuildStepError(`invalid value for --${name}: ${v}`);
}

export function checkFlags(i: Instruction, allowed: string[]): void {
  for (const f of i.flags) {
    const name = f.replace(/^--/, '').split('=')[0];
    if (!allowed.includes(name)) throw new BuildStepError(`Unknown flag: ${name}`);
  }
}

/** The stage a `--from` names: a stage name, a stage index, or (undefined) an image. */
export function stageRef(stages: Stage[], ref: string): Stage | undefined {
  const lower = ref.toLowerCase();
  const byName = stages.find((s) => s.name === lower);
  if (byName) return byName;
  if (/^\d+$/.test(ref)) {
    const s = stages[Number(ref)];
    if (!s) throw new BuildStepError(`invalid from flag value ${ref}: index out of bounds`);
    return s;
  }
  return undefined;
}
