// The cluster's door into this engine (cluster/local-engine.ts): task
// containers created, started, stopped and removed through the container
// service, found by their swarm labels, and their exits from the event bus.
import { hostname, cpus, totalmem } from 'node:os';
import type { ContainerService } from '../containers/service.ts';
import type { NetworkService } from '../network/service.ts';
import type { EventBus } from '../events/bus.ts';
import type { LocalEngine, TaskContainer, TaskContainerConfig } from '../cluster/local-engine.ts';
import type { ContainerRecord } from '../api/container.ts';

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
  };
}

export function clusterEngine(containers: ContainerService, networks: NetworkService, events: EventBus, engineVersion: string): LocalEngine {
  return {
    listLabelled: (label) => containers.list().filter((r) => r.Config.Labels && label in r.Config.Labels).map(view),
    async run(cfg: TaskContainerConfig) {
      const { Id } = await containers.create(cfg.name, {
        Image: cfg.image, Labels: cfg.labels, Env: cfg.env, Entrypoint: cfg.entrypoint, Cmd: cfg.cmd,
        Hostname: cfg.hostname, WorkingDir: cfg.workingDir, User: cfg.user, Tty: cfg.tty, OpenStdin: cfg.openStdin,
        StopSignal: cfg.stopSignal,
        HostConfig: { Init: cfg.init, ...(cfg.networks?.length ? { NetworkMode: cfg.networks[0].id } : {}) },
        ...(cfg.networks?.length ? { NetworkingConfig: { EndpointsConfig: Object.fromEntries(cfg.networks.map((n) => [n.id, { Aliases: n.aliases }])) } } : {}),
      });
      await containers.start(Id);
      return Id;
    },
    start: (id) => containers.start(id),
    stop: (id, timeoutSec) => containers.stop(id, timeoutSec),
    remove: (id) => containers.remove(id, { force: true }),
    onExit(label, fn) {
      return events.subscribe((ev) => {
        if (ev.Type === 'container' && (ev.Action === 'die' || ev.Action === 'destroy') && label in ev.Actor.Attributes) fn();
      });
    },
    syncOverlays: (state) => networks.syncOverlays(state),
    localSubnets: () => networks.usedSubnets(),
    heldAddresses: () => networks.overlayAddressesHeld(),
    describe: () => ({ hostname: hostname(), engineVersion, nanoCPUs: cpus().length * 1e9, memoryBytes: totalmem() }),
  };
}
