// `docker top`: the host's `ps` filtered to the container's processes, as
// dockerd's ContainerTop does (the pids come from the runtime: `runc ps`).
import { execFile } from 'node:child_process';
import { InvalidArgumentError, SystemError } from '../errors.ts';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

function run(cmd: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr }));
  });
}

/** dockerd's validatePSArgs: a `-o name=PID…` renaming any field but pid would hide the PID column. */
function validatePsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (m[1] !== 'pid') throw new InvalidArgumentError(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

/** dockerd's parsePSOutput: the last column (the command) keeps its spaces. */
export function parsePsOutput(output: string, pids: Set<number>): TopResult {
  const lines = output.split('\n');
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw new InvalidArgumentError("Couldn't find PID field in ps output");
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!line.trim() || fields.length <= pidIndex) continue;
    if (!pids.has(Number(fields[pidIndex]))) continue;
    processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  return { Titles: titles, Processes: processes };
}

export async function containerTop(rt: { path: string; args: string[]; root: string }, id: string, psArgs: string): Promise<TopResult> {
  const args = psArgs || '-ef';
  validatePsArgs(args);
  const list = await run(rt.path, ['--root', rt.root, ...rt.args, 'ps', '--format', 'json', id]);
  if (!list.ok) throw new SystemError(`runtime ps failed: ${list.stderr.trim()}`);
  const pids = new Set((JSON.parse(list.stdout || '[]') as number[] | null ?? []).map(Number));
  const ps = await run('ps', args.split(' '));
  // The arguments are the client's: a ps that refuses them is its mistake.
  if (!ps.ok) throw new InvalidArgumentError(`Error running ps: ${ps.stderr.trim() || 'exit status 1'}`);
  return parsePsOutput(ps.stdout, pids);
}
