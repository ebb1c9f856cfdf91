// `docker update`: new limits and restart policy for a container, applied at
// once to a running one's cgroup through the runtime (`runc update`), and kept
// in its HostConfig for every later start. dockerd's checks and wording
// (daemon/update.go, container/container_unix.go UpdateContainer).
import type { RestartPolicy } from '../api/container.ts';
import { ConflictError, InvalidArgumentError, SystemError } from '../errors.ts';
import { checkResources, discardUnsupported, updateFlags, type Resources } from '../runtime/resources.ts';
import { runtimeCall, runtimeTimeoutSeconds } from '../runtime/runtime-call.ts';
import type { ContainerService } from './service.ts';
import { runtimeMessage } from './shim-state.ts';
import { checkRestartPolicy } from './create.ts';

export interface UpdateRequest extends Resources {
  RestartPolicy?: RestartPolicy;
}

const RESOURCE_KEYS: (keyof Resources)[] = [
  'Memory', 'MemorySwap', 'MemoryReservation', 'MemorySwappiness', 'KernelMemory', 'OomKillDisable', 'CpuShares', 'CpuPeriod', 'CpuQuota',
  'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'NanoCpus', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight', 'BlkioWeightDevice',
  'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps',
];

export async function updateContainer(containers: ContainerService, ref: string, body: UpdateRequest): Promise<{ Warnings: string[] }> {
  const warnings: string[] = [];
  await containers.update(ref, async (rec) => {
    const host = rec.HostConfig as typeof rec.HostConfig & Resources;
    if (body.RestartPolicy?.Name !== undefined) {
      if (host.AutoRemove && body.RestartPolicy.Name !== 'no' && body.RestartPolicy.Name !== '') {
        throw new InvalidArgumentError('Restart policy cannot be updated because AutoRemove is enabled for the container');
      }
      checkRestartPolicy(body.RestartPolicy);
    }
    if (body.KernelMemory) throw new InvalidArgumentError('Kernel memory limit cannot be updated: it is deprecated and no longer supported');
    // The limits after the update, as UpdateContainer merges them.
    const next: Resources = {};
    for (const k of RESOURCE_KEYS) (next as Record<string, unknown>)[k] = host[k];
    const given = (k: keyof Resources) => body[k] !== undefined && body[k] !== null && body[k] !== 0 && body[k] !== '';
    if (given('Memory')) {
      if ((host.MemorySwap ?? 0) > 0 && (body.Memory ?? 0) > (host.MemorySwap ?? 0) && !given('MemorySwap')) {
        throw new ConflictError('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
      }
    }
    if (given('NanoCpus')) {
      // --cpus replaces a period/quota set before, and the reverse.
      next.CpuPeriod = 0;
      next.CpuQuota = 0;
    } else if (given('CpuPeriod') || given('CpuQuota')) {
      next.NanoCpus = 0;
    }
    for (const k of RESOURCE_KEYS) if (given(k)) (next as Record<string, unknown>)[k] = body[k];
    warnings.push(...checkResources(next));
    discardUnsupported(next, warnings);
    if (rec.State.Running) {
      const flags = updateFlags(Object.fromEntries(RESOURCE_KEYS.filter(given).map((k) => [k, next[k]])) as Resources);
      // Switching between --cpus and a quota/period sets the other side back to the default.
      if (given('NanoCpus') && !flags.some((f) => f.startsWith('--cpu-period'))) flags.push('--cpu-period=100000');
      if (flags.length) {
        const rt = containers.runtimeFor(rec);
        const r = await runtimeCall(rt.path, ['--root', rt.root, ...rt.args, 'update', ...flags, rec.Id]);
        const why = r.timedOut ? `${rt.path} update timed out after ${runtimeTimeoutSeconds()}s` : r.code !== 0 ? runtimeMessage(r.stderr || `exit status ${r.code}`) : '';
        if (why) throw new SystemError(`Cannot update container ${rec.Id}: ${why}`);
      }
    }
    Object.assign(host, next);
    if (body.RestartPolicy?.Name !== undefined) host.RestartPolicy = { Name: body.RestartPolicy.Name || 'no', MaximumRetryCount: body.RestartPolicy.MaximumRetryCount ?? 0 };
    containers.publish(rec, 'update');
  });
  return { Warnings: warnings };
}
