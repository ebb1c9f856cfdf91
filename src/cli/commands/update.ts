// update — at the top level and under `berth container`.
import type { Command } from 'commander';
import { addResourceOptions, bytesFlag, cpusFlag, integerFlag, resourceFields, type ResourceFlags } from '../resource-flags.ts';
import { clientFor, CliError } from '../context.ts';
import { globals, parseRestartPolicy } from '../options.ts';

interface UpdateFlags extends ResourceFlags {
  cpuShares?: string; cpus?: string; memory?: string; pidsLimit?: string; restart?: string;
}

/** The docker CLI's body for POST /containers/{id}/update. */
export function updateBody(f: UpdateFlags): Record<string, unknown> {
  const nano = cpusFlag(f.cpus);
  const body: Record<string, unknown> = {
    ...resourceFields(f),
    CpuShares: integerFlag('cpu-shares', f.cpuShares),
    NanoCpus: nano,
    Memory: bytesFlag('memory', f.memory),
    PidsLimit: integerFlag('pids-limit', f.pidsLimit),
    RestartPolicy: f.restart !== undefined ? parseRestartPolicy(f.restart) : undefined,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

export function registerUpdateCommands(program: Command, group: Command): void {
  for (const parent of [program, group]) {
    const cmd = parent.command('update');
    addResourceOptions(cmd, true);
    cmd
      .description('Update configuration of one or more containers')
      .argument('<containers...>')
      .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
      .option('--cpus <n>', 'Number of CPUs')
      .option('-m, --memory <bytes>', 'Memory limit')
      .option('--pids-limit <n>', 'Tune container pids limit (set -1 for unlimited)')
      .option('--restart <policy>', 'Restart policy to apply when a container exits')
      .action(async (containers: string[], f: UpdateFlags, cmd: Command) => {
        const body = updateBody(f);
        if (Object.keys(body).length === 0) throw new CliError('you must provide one or more flags when using this command', 1);
        const client = await clientFor(globals(cmd));
        const errors: string[] = [];
        for (const c of containers) {
          try {
            const r = await client.call<{ Warnings?: string[] | null }>('POST', `/containers/${c}/update`, { body });
            for (const w of r?.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
            process.stdout.write(`${c}\n`);
          } catch (err) {
            errors.push((err as Error).message);
          }
        }
        if (errors.length) throw new CliError(errors.join('\n'), 1);
      });
  }
}
