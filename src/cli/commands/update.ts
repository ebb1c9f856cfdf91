// update — at the top level and under `berth container`.
import type { Command } from 'commander';
import { ramInBytes } from '../../api/units.ts';
import { clientFor, CliError } from '../context.ts';
import { globals, parseRestartPolicy } from '../options.ts';

interface UpdateFlags {
  blkioWeight?: string; cpuPeriod?: string; cpuQuota?: string; cpuRtPeriod?: string; cpuRtRuntime?: string; cpuShares?: string;
  cpus?: string; cpusetCpus?: string; cpusetMems?: string; kernelMemory?: string; memory?: string; memoryReservation?: string;
  memorySwap?: string; pidsLimit?: string; restart?: string;
}

function integer(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new CliError(`invalid argument "${v}" for "--${flag}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`, 125);
  return Number(v);
}

function bytes(flag: string, v: string | undefined, allowUnlimited = false): number | undefined {
  if (v === undefined) return undefined;
  if (allowUnlimited && v === '-1') return -1;
  try {
    return ramInBytes(v);
  } catch {
    throw new CliError(`invalid argument "${v}" for "--${flag}" flag: invalid size: '${v}'`, 125);
  }
}

/** The docker CLI's body for POST /containers/{id}/update. */
export function updateBody(f: UpdateFlags): Record<string, unknown> {
  let nano: number | undefined;
  if (f.cpus !== undefined) {
    const n = Number(f.cpus);
    if (!Number.isFinite(n) || f.cpus.trim() === '') throw new CliError(`invalid argument "${f.cpus}" for "--cpus" flag: failed to parse ${f.cpus} as a rational number`, 125);
    nano = Math.round(n * 1e9);
  }
  const body: Record<string, unknown> = {
    BlkioWeight: integer('blkio-weight', f.blkioWeight),
    CpuPeriod: integer('cpu-period', f.cpuPeriod),
    CpuQuota: integer('cpu-quota', f.cpuQuota),
    CpuRealtimePeriod: integer('cpu-rt-period', f.cpuRtPeriod),
    CpuRealtimeRuntime: integer('cpu-rt-runtime', f.cpuRtRuntime),
    CpuShares: integer('cpu-shares', f.cpuShares),
    NanoCpus: nano,
    CpusetCpus: f.cpusetCpus,
    CpusetMems: f.cpusetMems,
    KernelMemory: bytes('kernel-memory', f.kernelMemory),
    Memory: bytes('memory', f.memory),
    MemoryReservation: bytes('memory-reservation', f.memoryReservation),
    MemorySwap: bytes('memory-swap', f.memorySwap, true),
    PidsLimit: integer('pids-limit', f.pidsLimit),
    RestartPolicy: f.restart !== undefined ? parseRestartPolicy(f.restart) : undefined,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

export function registerUpdateCommands(program: Command, group: Command): void {
  for (const parent of [program, group]) {
    parent.command('update')
      .description('Update configuration of one or more containers')
      .argument('<containers...>')
      .option('--blkio-weight <n>', 'Block IO (relative weight), between 10 and 1000, or 0 to disable')
      .option('--cpu-period <n>', 'Limit CPU CFS (Completely Fair Scheduler) period')
      .option('--cpu-quota <n>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
      .option('--cpu-rt-period <n>', 'Limit the CPU real-time period in microseconds')
      .option('--cpu-rt-runtime <n>', 'Limit the CPU real-time runtime in microseconds')
      .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
      .option('--cpus <n>', 'Number of CPUs')
      .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
      .option('--cpuset-mems <list>', 'MEMs in which to allow execution (0-3, 0,1)')
      .option('--kernel-memory <bytes>', 'Kernel memory limit (deprecated)')
      .option('-m, --memory <bytes>', 'Memory limit')
      .option('--memory-reservation <bytes>', 'Memory soft limit')
      .option('--memory-swap <bytes>', 'Swap limit equal to memory plus swap: -1 to enable unlimited swap')
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
