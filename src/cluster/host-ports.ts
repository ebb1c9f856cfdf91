// Ports published in host mode (`--publish mode=host`): bound on the node
// that runs the task, straight to its container, as dockerd does. The routing
// mesh (ingress mode) is network-agent.ts's. A node holds a host port for one
// task at a time: swarm's HostPortFilter keeps a second off it.
import type { ServiceSpec, TaskRecord } from './types.ts';

export interface HostPort {
  protocol: 'tcp' | 'udp' | 'sctp';
  target: number;
  /** 0: the engine picks one (reported in the task's PortStatus). */
  published: number;
}

interface PortConfig { Protocol?: string; TargetPort?: number; PublishedPort?: number; PublishMode?: string }

function portsOf(endpoint: unknown): HostPort[] {
  const ports = (endpoint as { Ports?: PortConfig[] } | undefined)?.Ports ?? [];
  return ports.filter((p) => p.PublishMode === 'host' && p.TargetPort)
    .map((p) => ({ protocol: (p.Protocol || 'tcp') as HostPort['protocol'], target: p.TargetPort as number, published: p.PublishedPort ?? 0 }));
}

export function serviceHostPorts(spec: ServiceSpec): HostPort[] {
  return portsOf(spec.EndpointSpec);
}

/** A task's host ports: those of the service spec it was made from (kept on the task, as swarm's Task.Endpoint). */
export function taskHostPorts(t: TaskRecord): HostPort[] {
  return portsOf(t.Endpoint?.Spec);
}

/** For comparing a task's ports with its service's: an update of them replaces the task. */
export function hostPortsForm(ports: HostPort[]): string {
  return ports.map((p) => `${p.published}:${p.target}/${p.protocol}`).sort().join(',');
}

/** Ports that two sets both publish on a fixed host port. */
export function clash(a: HostPort[], b: HostPort[]): boolean {
  return a.some((p) => p.published && b.some((q) => q.published === p.published && q.protocol === p.protocol));
}
