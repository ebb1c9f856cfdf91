// The cluster's door into this engine (cluster/local-engine.ts): task
// containers created, started, stopped and removed through the container
// service, found by their swarm labels, and their exits from the event bus.
import { hostname, cpus, totalmem } from 'node:os';
import type { ContainerService } from '../containers/service.ts';
import type { NetworkService } from '../network/service.ts';
import type { EventBus } from '../events/bus.ts';
import { TASK_LABELS, type LocalEngine, type TaskContainer, type TaskContainerConfig } from '../cluster/local-engine.ts';
import type { ContainerRecord } from '../api/container.ts';
import { TaskFiles } from './task-files.ts';
import type { taskImages } from './task-images.ts';

function view(rec: ContainerRecord): TaskContainer {
  return {
    id: rec.Id,
    name: rec.Name.slice(1),
    labels: rec.Config.Labels ?? {},
    running: rec.State.Running,
    created: rec.State.Status === 'created',
    exitCode: rec.State.ExitCode,
    pid: rec.State.Pid,
    error: rec.State.Error,
    health: rec.State.Running ? rec.State.Health?.Status ?? '' : '',
    ports: boundPorts(rec),
  };
}

/** "80/tcp" → the host port it is bound to. */
function boundPorts(rec: ContainerRecord): Record<string, number> {
  const map = (rec.NetworkSettings.Ports ?? {}) as Record<string, { HostPort?: string }[] | null>;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(map)) if (v?.[0]?.HostPort) out[k] = Number(v[0].HostPort);
  return out;
}

export function clusterEngine(containers: ContainerService, networks: NetworkService, events: EventBus, engineVersion: string, dataRoot: string, images: ReturnType<typeof taskImages>): LocalEngine {
  const files = new TaskFiles(dataRoot);
  return {
    ...images,
    listLabelled: (label) => containers.list().filter((r) => r.Config.Labels && label in r.Config.Labels).map(view),
    async run(cfg: TaskContainerConfig) {
      try {
        const fileMounts = await files.prepare(cfg.taskId, cfg.files);
        const { Id } = await containers.create(cfg.name, {
          Image: cfg.image, Labels: cfg.labels, Env: cfg.env, Entrypoint: cfg.entrypoint, Cmd: cfg.cmd,
          Hostname: cfg.hostname, WorkingDir: cfg.workingDir, User: cfg.user, Tty: cfg.tty, OpenStdin: cfg.openStdin,
          StopSignal: cfg.stopSignal, Healthcheck: cfg.healthcheck,
          ExposedPorts: Object.fromEntries((cfg.hostPorts ?? []).map((p) => [`${p.target}/${p.protocol}`, {}])),
          HostConfig: {
            ...(cfg.networks?.length ? { NetworkMode: cfg.networks[0].id } : {}),
            Init: cfg.init, NanoCpus: cfg.nanoCpus, Memory: cfg.memory, PidsLimit: cfg.pidsLimit,
            Mounts: [...(cfg.mounts ?? []), ...fileMounts],
            PortBindings: Object.fromEntries((cfg.hostPorts ?? []).map((p) => [`${p.target}/${p.protocol}`, [{ HostIp: '', HostPort: p.published ? String(p.published) : '' }]])),
          },
          ...(cfg.networks?.length ? { NetworkingConfig: { EndpointsConfig: Object.fromEntries(cfg.networks.map((n) => [n.id, { Aliases: n.aliases }])) } } : {}),
        });
        await containers.start(Id);
        return Id;
      } catch (err) {
        // A container never made leaves no files behind (one made keeps them until it is removed).
        if (!containers.list().some((r) => r.Config.Labels?.[TASK_LABELS.taskId] === cfg.taskId)) await files.release(cfg.taskId);
        throw err;
      }
    },
    start: (id) => containers.start(id),
    stop: (id, timeoutSec) => containers.stop(id, timeoutSec),
    async remove(id) {
      const taskId = containers.list().find((r) => r.Id === id)?.Config.Labels?.[TASK_LABELS.taskId];
      await containers.remove(id, { force: true });
      if (taskId) await files.release(taskId);
    },
    onExit(label, fn) {
      return events.subscribe((ev) => {
        if (ev.Type === 'container' && (ev.Action === 'die' || ev.Action === 'destroy' || ev.Action.startsWith('health_status')) && label in ev.Actor.Attributes) fn();
      });
    },
    hasNetwork: (id) => networks.find(id) !== undefined,
    syncOverlays: (state) => networks.syncOverlays(state),
    localSubnets: () => networks.usedSubnets(),
    heldAddresses: () => networks.overlayAddressesHeld(),
    describe: () => ({ hostname: hostname(), engineVersion, nanoCPUs: cpus().length * 1e9, memoryBytes: totalmem() }),
  };
}
