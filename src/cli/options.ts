// Option plumbing every command group shares: repeated flags, the global
// flags, and the client-side checks the docker CLI makes before it calls.
import type { Command } from 'commander';
import { parseTimestampArg } from '../api/timestamps.ts';
import { CliError, type GlobalOptions } from './context.ts';

/** A repeatable flag's values, in order. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function globals(cmd: Command): GlobalOptions {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}

/** Checks --since/--until on the client, as the docker CLI does, with its wording. */
export function checkTimeFlags(flags: Record<string, string | undefined>, wrap: boolean): void {
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    try {
      parseTimestampArg(value, new Date());
    } catch (err) {
      throw new CliError(wrap ? `invalid value for "${name}": ${(err as Error).message}` : (err as Error).message, 1);
    }
  }
}

/** `--restart no|always|unless-stopped|on-failure[:N]`, parsed as the docker CLI does (the daemon checks the name). */
export function parseRestartPolicy(policy: string): { Name: string; MaximumRetryCount: number } {
  const colon = policy.indexOf(':');
  const [name, count] = colon < 0 ? [policy, ''] : [policy.slice(0, colon), policy.slice(colon + 1)];
  if (colon >= 0 && name === '') throw new CliError('invalid restart policy format: no policy provided before colon', 125);
  if (count !== '' && !/^[+-]?\d+$/.test(count)) throw new CliError('invalid restart policy format: maximum retry count must be an integer', 125);
  return { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
}

/** `--filter k=v` flags as the API's filters map, with the docker CLI's error for one without `=`. */
export function filterFlags(flags: string[] = []): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  for (const kv of flags) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CliError(`invalid argument "${kv}" for "-f, --filter" flag: bad format of filter (expected name=value)`, 125);
    (filters[kv.slice(0, eq)] ??= []).push(kv.slice(eq + 1));
  }
  return filters;
}

/** `k=v` flags (--label, --opt) as a map; a bare `k` is an empty value. */
export function keyValues(list: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const x of list) {
    const eq = x.indexOf('=');
    out[eq < 0 ? x : x.slice(0, eq)] = eq < 0 ? '' : x.slice(eq + 1);
  }
  return out;
}

const BOOL_VALUES: Record<string, boolean> = { true: true, false: false, '1': true, '0': false, t: true, f: false, TRUE: true, FALSE: false, True: true, False: false };

/**
 * pflag takes `--flag=false` (and `=true`, `-d=false`) for any boolean flag,
 * as docker's own messages suggest ("--detach=false"); commander knows only
 * the bare flag. Rewritten before parsing: `=true` is the flag, `=false` its
 * `--no-` form where the command has one, else nothing.
 */
export function booleanFlagValues(program: Command, argv: string[]): string[] {
  const chain: Command[] = [program];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (t === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const cmd = chain[chain.length - 1];
    if (!t.startsWith('-')) {
      const sub = cmd.commands.find((c) => c.name() === t || c.aliases().includes(t));
      if (sub) chain.push(sub);
      out.push(t);
      // After the image of `run`, `service create`…, the words are the container's command: left alone.
      if (!sub && cmd.registeredArguments.some((a) => a.variadic)) {
        out.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const m = /^(--?[^=]+)=(.*)$/.exec(t);
    const value = m ? BOOL_VALUES[m[2]] : undefined;
    const option = m && value !== undefined ? chain.flatMap((c) => c.options).reverse().find((o) => (o.long === m[1] || o.short === m[1]) && !o.negate && !o.required && !o.optional) : undefined;
    if (!option || value === undefined) {
      out.push(t);
      continue;
    }
    if (value) out.push(option.long ?? option.short ?? t);
    else if (chain.some((c) => c.options.some((o) => o.negate && o.long === `--no-${option.long?.slice(2)}`))) out.push(`--no-${option.long?.slice(2)}`);
  }
  return out;
}
