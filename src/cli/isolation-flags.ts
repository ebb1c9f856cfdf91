// The flags of `run`/`create` that choose a container's namespaces and
// identity: --ipc, --pid, --uts, --cgroupns, --userns, --group-add,
// --oom-score-adj (the daemon checks the modes).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from './context.ts';
import { collect } from './options.ts';

export interface IsolationFlags {
  ipc?: string; pid?: string; uts?: string; cgroupns?: string; userns?: string; groupAdd?: string[]; oomScoreAdj?: string;
}

export function addIsolationOptions(cmd: Command): Command {
  return cmd
    .option('--ipc <mode>', 'IPC mode to use')
    .option('--pid <mode>', 'PID namespace to use')
    .option('--uts <mode>', 'UTS namespace to use')
    .option('--cgroupns <mode>', 'Cgroup namespace to use (host|private)')
    .option('--userns <mode>', 'User namespace to use')
    .option('--group-add <group>', 'Add additional groups to join', collect)
    .option('--oom-score-adj <n>', 'Tune host\'s OOM preferences (-1000 to 1000)');
}

export function isolationFields(f: IsolationFlags): Record<string, unknown> {
  let oom: number | undefined;
  if (f.oomScoreAdj !== undefined) {
    oom = Number(f.oomScoreAdj);
    if (!/^-?\d+$/.test(f.oomScoreAdj) || oom < -1000 || oom > 1000) {
      throw new CliError(`invalid argument "${f.oomScoreAdj}" for "--oom-score-adj" flag: the value must be in the range [-1000, 1000]`, 125);
    }
  }
  if (f.cgroupns !== undefined && !['host', 'private'].includes(f.cgroupns)) {
    throw new CliError(`--cgroupns: invalid CGROUP mode`, 125);
  }
  const fields: Record<string, unknown> = {
    IpcMode: f.ipc, PidMode: f.pid, UTSMode: f.uts, CgroupnsMode: f.cgroupns, UsernsMode: f.userns,
    GroupAdd: f.groupAdd, OomScoreAdj: oom,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** --security-opt as the docker CLI sends it: a seccomp profile file is read here and sent as its compacted JSON. */
export function securityOptsField(opts: string[] | undefined): string[] | null {
  if (!opts?.length) return null;
  return opts.map((opt) => {
    let sep = opt.indexOf('=');
    if (sep < 0 && opt !== 'no-new-privileges') sep = opt.indexOf(':');
    const [k, v] = sep < 0 ? [opt, ''] : [opt.slice(0, sep), opt.slice(sep + 1)];
    if ((sep < 0 || v === '') && k !== 'no-new-privileges') throw new CliError(`Invalid --security-opt: "${opt}"`, 125);
    if (k !== 'seccomp' || v === 'builtin' || v === 'unconfined') return opt;
    let text: string;
    try {
      text = readFileSync(v, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new CliError(`opening seccomp profile (${v}) failed: open ${v}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`, 125);
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch (err) {
      throw new CliError(`compacting json for seccomp profile (${v}) failed: ${(err as Error).message}`, 125);
    }
  });
}
