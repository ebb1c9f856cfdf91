// Where a task may run, as swarm's scheduler decides it: a pipeline of
// filters (ready, resources, constraints, max replicas) over the nodes, whose
// failures explain a task left pending ("no suitable node (…)"), then the
// spread: the preferences' groups with fewest of the service's tasks first,
// then the node with fewest of them, then the node with fewest tasks.
import { clash, serviceHostPorts, taskHostPorts } from './host-ports.ts';
import { terminal, type NodeRecord, type Resources, type ServiceRecord, type TaskRecord, type TaskSpec } from './types.ts';

const OPERATORS = ['==', '!='] as const;
const KEY_RE = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE_RE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

/** swarm's constraint.Parse, with its words. */
export function parseConstraints(exprs: string[]): Constraint[] {
  return exprs.map((e) => {
    const op = OPERATORS.find((o) => e.includes(o));
    if (!op) throw new Error(`constraint expected one operator from ${OPERATORS.join(', ')}`);
    const i = e.indexOf(op);
    const key = e.slice(0, i).trim();
    const value = e.slice(i + op.length).trim();
    if (!KEY_RE.test(key)) throw new Error(`key '${key}' is invalid`);
    if (!VALUE_RE.test(value)) throw new Error(`value '${value}' is invalid`);
    return { key, op, value };
  });
}

function labelOf(labels: Record<string, string> | undefined, key: string, prefix: string): string {
  return labels?.[key.slice(prefix.length)] ?? '';
}

/** The node's value for a constraint's key; undefined for a key swarm does not know (never matches). */
function nodeValue(n: NodeRecord, key: string): string | undefined {
  const k = key.toLowerCase();
  const platform = n.Description.Platform as { OS?: string; Architecture?: string } | undefined;
  const engine = n.Description.Engine as { Labels?: Record<string, string> } | undefined;
  if (k === 'node.id') return n.ID;
  if (k === 'node.hostname') return n.Description.Hostname;
  if (k === 'node.role') return n.Spec.Role;
  if (k === 'node.ip') return n.Status.Addr;
  if (k === 'node.platform.os') return platform?.OS ?? '';
  if (k === 'node.platform.arch') return platform?.Architecture ?? '';
  if (k.startsWith('node.labels.') && k.length > 12) return labelOf(n.Spec.Labels, key, 'node.labels.');
  if (k.startsWith('engine.labels.') && k.length > 14) return labelOf(engine?.Labels, key, 'engine.labels.');
  return undefined;
}

/** swarm's NodeMatches: values compare case-insensitively, label names exactly. */
export function nodeMatches(constraints: Constraint[], n: NodeRecord): boolean {
  return constraints.every((c) => {
    const v = nodeValue(n, c.key);
    if (v === undefined) return false;
    const eq = v.toLowerCase() === c.value.toLowerCase();
    return c.op === '==' ? eq : !eq;
  });
}

/** What the scheduler knows of the cluster in one pass. */
export interface ClusterView {
  nodes: NodeRecord[];
  /** Nodes whose heartbeat lives. */
  alive: Set<string>;
  tasks: TaskRecord[];
}

/** A node takes new tasks while its heartbeat lives and its availability is active. */
export function nodeReady(view: ClusterView, n: NodeRecord): boolean {
  return view.alive.has(n.ID) && n.Spec.Availability === 'active';
}

function holds(t: TaskRecord, nodeId: string): boolean {
  return t.NodeID === nodeId && !terminal(t.Status.State) && (t.DesiredState === 'running' || t.DesiredState === 'complete');
}

/** What a node has left once the reservations of the tasks it holds are taken. */
function available(view: ClusterView, n: NodeRecord): Required<Pick<Resources, 'NanoCPUs' | 'MemoryBytes'>> {
  const res = (n.Description.Resources as Resources | undefined) ?? {};
  let cpu = res.NanoCPUs ?? 0;
  let mem = res.MemoryBytes ?? 0;
  for (const t of view.tasks) {
    if (!holds(t, n.ID)) continue;
    cpu -= t.Spec.Resources?.Reservations?.NanoCPUs ?? 0;
    mem -= t.Spec.Resources?.Reservations?.MemoryBytes ?? 0;
  }
  return { NanoCPUs: cpu, MemoryBytes: mem };
}

interface Filter {
  check(n: NodeRecord): boolean;
  explain(count: number): string;
}

const nodes = (count: number, one: string, many: string) => (count === 1 ? `1 node ${one}` : `${count} nodes ${many}`);

function filters(view: ClusterView, svc: ServiceRecord, spec: TaskSpec): Filter[] {
  const out: Filter[] = [{ check: (n) => nodeReady(view, n), explain: (c) => nodes(c, 'not available for new tasks', 'not available for new tasks') }];
  const r = spec.Resources?.Reservations;
  if (r && (r.NanoCPUs || r.MemoryBytes)) {
    out.push({
      check: (n) => {
        const a = available(view, n);
        return (r.NanoCPUs ?? 0) <= a.NanoCPUs && (r.MemoryBytes ?? 0) <= a.MemoryBytes;
      },
      explain: (c) => `insufficient resources on ${c === 1 ? '1 node' : `${c} nodes`}`,
    });
  }
  const exprs = spec.Placement?.Constraints ?? [];
  if (exprs.length) {
    // Checked at create; a spec that slipped past never matches.
    let cs: Constraint[] | undefined;
    try { cs = parseConstraints(exprs); } catch { cs = undefined; }
    out.push({ check: (n) => !!cs && nodeMatches(cs, n), explain: (c) => `scheduling constraints not satisfied on ${c === 1 ? '1 node' : `${c} nodes`}` });
  }
  const ports = serviceHostPorts(svc.Spec);
  if (ports.some((p) => p.published)) {
    out.push({ check: (n) => !view.tasks.some((t) => holds(t, n.ID) && clash(ports, taskHostPorts(t))), explain: (c) => `host-mode port already in use on ${c === 1 ? '1 node' : `${c} nodes`}` });
  }
  const max = spec.Placement?.MaxReplicas ?? 0;
  if (max > 0) {
    out.push({ check: (n) => view.tasks.filter((t) => t.ServiceID === svc.ID && holds(t, n.ID)).length < max, explain: () => 'max replicas per node limit exceed' });
  }
  return out;
}

/** The nodes that pass every filter, or why none does (swarm's pipeline explanation). */
export function eligibleNodes(view: ClusterView, svc: ServiceRecord, spec: TaskSpec): { nodes: NodeRecord[]; explanation: string } {
  const fs = filters(view, svc, spec);
  const failures = new Map<Filter, number>();
  const ok: NodeRecord[] = [];
  for (const n of view.nodes) {
    const failed = fs.find((f) => !f.check(n));
    if (failed) failures.set(failed, (failures.get(failed) ?? 0) + 1);
    else ok.push(n);
  }
  // Most failures first, as swarm's Pipeline.Explain sorts them.
  const explanation = [...failures].sort((a, b) => b[1] - a[1]).map(([f, c]) => f.explain(c)).join('; ');
  return { nodes: ok, explanation };
}

/** swarm's message for a task no node can take. */
export function noSuitableNode(explanation: string): string {
  return explanation ? `no suitable node (${explanation})` : 'no suitable node';
}

/** The node for a new task of svc: spread over the preferences' groups, then over nodes. */
export function pickNode(view: ClusterView, svc: ServiceRecord, spec: TaskSpec): { node?: NodeRecord; explanation: string } {
  const { nodes: ok, explanation } = eligibleNodes(view, svc, spec);
  if (!ok.length) return { explanation };
  const own = (n: NodeRecord) => view.tasks.filter((t) => t.ServiceID === svc.ID && holds(t, n.ID)).length;
  const total = (n: NodeRecord) => view.tasks.filter((t) => holds(t, n.ID)).length;
  const descriptors = (spec.Placement?.Preferences ?? []).map((p) => p.Spread?.SpreadDescriptor ?? '').filter(Boolean);
  // Per preference, how many of the service's tasks the node's group holds (nodes without the label form one group).
  const groupLoad = (n: NodeRecord, d: string) => {
    const key = nodeValue(n, d) ?? '';
    return ok.filter((m) => (nodeValue(m, d) ?? '') === key).reduce((sum, m) => sum + own(m), 0);
  };
  const score = (n: NodeRecord) => [...descriptors.map((d) => groupLoad(n, d)), own(n), total(n)];
  const ranked = ok.map((n) => ({ n, s: score(n) })).sort((a, b) => {
    for (let i = 0; i < a.s.length; i++) if (a.s[i] !== b.s[i]) return a.s[i] - b.s[i];
    return a.n.ID < b.n.ID ? -1 : 1;
  });
  return { node: ranked[0].n, explanation };
}
