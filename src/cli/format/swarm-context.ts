// The docker CLI's formatter contexts for swarm objects (node, service, task,
// secret, config, stack): the fields a `--format` template sees, their
// headers, and the default table and raw formats.
import { familiarString, parseNormalizedNamed } from '../../api/reference.ts';
import { bytesSize, humanDuration } from '../../api/units.ts';
import type { Node, PortConfig, SecretOrConfig, Service, Task } from '../../api/swarm.ts';
import { naturalLess } from './volume-context.ts';

export const truncateId = (id: string): string => id.slice(0, 12);
/** formatter.PrettyPrint: the first letter capitalised. */
export const pretty = (s: string | undefined): string => (s ? s[0].toUpperCase() + s.slice(1).toLowerCase() : '');
export const byNatural = (a: string, b: string): number => (naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0);

/** formatter.Ellipsis for a width above 1. */
export function ellipsis(s: string, width: number): string {
  const rs = [...s];
  return rs.length <= width ? s : rs.slice(0, width - 1).join('') + '…';
}

/** What list outputs show of an image: its tag, without a digest pinned by the daemon. */
export function familiarImage(image: string): string {
  try {
    const ref = parseNormalizedNamed(image);
    if (ref.tag === undefined) return image;
    return familiarString({ ...ref, digest: undefined });
  } catch {
    return image;
  }
}

/** `table`/`raw`/custom: the docker CLI's choice of format for a list. */
export function listFormat(format: string | undefined, quiet: boolean | undefined, table: string, raw: string, quietRaw = 'id: {{.ID}}'): string {
  const f = format ?? '';
  if (f === '' || f === 'table') return quiet ? '{{.ID}}' : table;
  if (f === 'raw') return quiet ? quietRaw : raw;
  return f;
}

export const NODE_TABLE = 'table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}';
export const NODE_RAW = 'node_id: {{.ID}}\nhostname: {{.Hostname}}\nstatus: {{.Status}}\navailability: {{.Availability}}\nmanager_status: {{.ManagerStatus}}\n';
export const NODE_HEADERS = {
  ID: 'ID', Self: '', Hostname: 'HOSTNAME', Status: 'STATUS', Availability: 'AVAILABILITY', ManagerStatus: 'MANAGER STATUS',
  TLSStatus: 'TLS STATUS', EngineVersion: 'ENGINE VERSION',
};

type TlsInfo = { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string } | undefined;

/**
 * The docker CLI compares TLS infos with reflect.DeepEqual, where a field
 * sent as "" (an empty, non-nil byte slice) differs from one not sent.
 */
export const tlsEmpty = (t: TlsInfo): boolean => !t || (!t.TrustRoot && t.CertIssuerSubject == null && t.CertIssuerPublicKey == null);
const tlsEqual = (a: NonNullable<TlsInfo>, b: NonNullable<TlsInfo>) => (a.TrustRoot ?? '') === (b.TrustRoot ?? '') && a.CertIssuerSubject === b.CertIssuerSubject && a.CertIssuerPublicKey === b.CertIssuerPublicKey;

export function nodeRow(n: Node, selfId: string, cluster: TlsInfo): Record<string, unknown> {
  const ms = n.ManagerStatus;
  const tls = n.Description?.TLSInfo;
  return {
    ID: n.ID,
    Self: n.ID === selfId,
    Hostname: n.Description?.Hostname ?? '',
    Status: pretty(n.Status?.State),
    Availability: pretty(n.Spec.Availability),
    ManagerStatus: pretty(ms ? (ms.Leader ? 'Leader' : ms.Reachability) : ''),
    TLSStatus: tlsEmpty(cluster) || tlsEmpty(tls) ? 'Unknown' : tlsEqual(cluster!, tls!) ? 'Ready' : 'Needs Rotation',
    EngineVersion: n.Description?.Engine?.EngineVersion ?? '',
  };
}

export const SERVICE_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}';
export const SERVICE_RAW = 'id: {{.ID}}\nname: {{.Name}}\nmode: {{.Mode}}\nreplicas: {{.Replicas}}\nimage: {{.Image}}\nports: {{.Ports}}\n';
export const SERVICE_HEADERS = { ID: 'ID', Name: 'NAME', Mode: 'MODE', Replicas: 'REPLICAS', Image: 'IMAGE', Ports: 'PORTS' };

export function serviceMode(s: Service): string {
  const m = s.Spec.Mode ?? {};
  return m.Global ? 'global' : m.Replicated ? 'replicated' : m.ReplicatedJob ? 'replicated job' : m.GlobalJob ? 'global job' : '';
}

/** Ingress ports, consecutive ones merged into ranges: `*:8080-8081->80-81/tcp`. */
export function servicePorts(ports: PortConfig[] | undefined): string {
  if (!ports) return '';
  const sorted = [...ports].sort((a, b) => ((a.Protocol ?? '') === (b.Protocol ?? '') ? (a.PublishedPort ?? 0) - (b.PublishedPort ?? 0) : (a.Protocol ?? '') < (b.Protocol ?? '') ? -1 : 1));
  const out: string[] = [];
  let pr = { pStart: 0, pEnd: 0, tStart: 0, tEnd: 0, protocol: '' };
  const show = () => (pr.pStart === pr.pEnd ? `*:${pr.pStart}->${pr.tStart}/${pr.protocol}` : `*:${pr.pStart}-${pr.pEnd}->${pr.tStart}-${pr.tEnd}/${pr.protocol}`);
  for (const p of sorted) {
    if (p.PublishMode !== 'ingress') continue;
    const pub = p.PublishedPort ?? 0;
    const tgt = p.TargetPort ?? 0;
    const isRange = pr.tEnd !== pr.tStart;
    if (p.Protocol !== pr.protocol || pub - pr.pEnd > 1 || tgt - pr.tEnd > 1 || (isRange && tgt <= pr.tEnd)) {
      if (pr.pStart > 0) out.push(show());
      pr = { pStart: pub, pEnd: pub, tStart: tgt, tEnd: tgt, protocol: p.Protocol ?? '' };
      continue;
    }
    pr.pEnd = pub;
    pr.tEnd = tgt;
  }
  if (pr.pStart > 0) out.push(show());
  return out.join(', ');
}

export function serviceRow(s: Service): Record<string, unknown> {
  const st = s.ServiceStatus ?? { RunningTasks: 0, DesiredTasks: 0, CompletedTasks: 0 };
  const m = s.Spec.Mode ?? {};
  let replicas = `${st.RunningTasks}/${st.DesiredTasks}`;
  if (m.ReplicatedJob) replicas += ` (${st.CompletedTasks ?? 0}/${m.ReplicatedJob.TotalCompletions ?? 0} completed)`;
  else if (m.GlobalJob) replicas += ` (${st.CompletedTasks ?? 0}/${st.DesiredTasks + (st.CompletedTasks ?? 0)} completed)`;
  else if (m.Replicated && s.Spec.TaskTemplate.Placement?.MaxReplicas) replicas += ` (max ${s.Spec.TaskTemplate.Placement.MaxReplicas} per node)`;
  return {
    ID: truncateId(s.ID),
    Name: s.Spec.Name ?? '',
    Mode: serviceMode(s),
    Replicas: replicas,
    Image: familiarImage(s.Spec.TaskTemplate.ContainerSpec?.Image ?? ''),
    Ports: servicePorts(s.Endpoint?.Ports),
  };
}

export const sortServices = (list: Service[]): Service[] => list.sort((a, b) => byNatural(a.Spec.Name ?? '', b.Spec.Name ?? ''));

export const TASK_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}';
export const TASK_RAW = 'id: {{.ID}}\nname: {{.Name}}\nimage: {{.Image}}\nnode: {{.Node}}\ndesired_state: {{.DesiredState}}\ncurrent_state: {{.CurrentState}}\nerror: {{.Error}}\nports: {{.Ports}}\n';
export const TASK_HEADERS = { ID: 'ID', Name: 'NAME', Image: 'IMAGE', Node: 'NODE', DesiredState: 'DESIRED STATE', CurrentState: 'CURRENT STATE', Error: 'ERROR', Ports: 'PORTS' };

/** Names for IDs, as the docker CLI's idresolver: a service's name, a node's name or hostname; `noResolve` keeps IDs. */
export interface Resolver {
  service(id: string): string;
  node(id: string): string;
}

/**
 * task.Print: tasks named `<service>.<slot>` (or `.<node id>` for global
 * ones), sorted by name then newest first; in a table a task of the same
 * name as the one above is its history, indented ` \_ `.
 */
export function taskRows(tasks: Task[], r: Resolver, trunc: boolean, table: boolean, now = Date.now()): Record<string, unknown>[] {
  const named = tasks.map((t) => ({ t, name: `${r.service(t.ServiceID)}.${t.Slot ? t.Slot : t.NodeID ?? ''}` }));
  named.sort((a, b) => (a.name !== b.name ? byNatural(a.name, b.name) : Date.parse(b.t.CreatedAt) - Date.parse(a.t.CreatedAt)));
  let prev = '';
  return named.map(({ t, name }) => {
    const shown = table && name === prev ? ` \\_ ${name}` : name;
    prev = name;
    let err = t.Status.Err ?? '';
    if (trunc) err = ellipsis(err, 30);
    const image = t.Spec.ContainerSpec?.Image ?? '';
    const ts = t.Status.Timestamp ? Date.parse(t.Status.Timestamp) : now;
    return {
      ID: trunc ? truncateId(t.ID) : t.ID,
      Name: shown,
      Image: trunc ? familiarImage(image) : image,
      Node: r.node(t.NodeID ?? ''),
      DesiredState: pretty(t.DesiredState),
      CurrentState: `${pretty(t.Status.State)} ${humanDuration(Math.max(0, now - ts)).toLowerCase()} ago`,
      Error: err ? `"${err}"` : '',
      Ports: (t.Status.PortStatus?.Ports ?? []).map((p) => `*:${p.PublishedPort ?? 0}->${p.TargetPort ?? 0}/${p.Protocol ?? ''}`).join(','),
    };
  });
}

export const SECRET_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}';
export const CONFIG_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}';
export const SECRET_HEADERS = { ID: 'ID', Name: 'NAME', Driver: 'DRIVER', CreatedAt: 'CREATED', UpdatedAt: 'UPDATED', Labels: 'LABELS' };

/** The secret and config formatter contexts (CreatedAt/UpdatedAt as "x ago"). */
export function secretRow(o: SecretOrConfig, now = Date.now()): Record<string, unknown> {
  const labels = o.Spec.Labels ?? {};
  const ago = (t: string) => `${humanDuration(Math.max(0, now - Date.parse(t)))} ago`;
  return {
    ID: o.ID,
    Name: o.Spec.Name,
    Driver: o.Spec.Driver?.Name ?? '',
    CreatedAt: ago(o.CreatedAt),
    UpdatedAt: ago(o.UpdatedAt),
    Labels: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','),
    Label: (k: string) => labels[k] ?? '',
  };
}

export const STACK_TABLE = 'table {{.Name}}\t{{.Services}}';
export const STACK_HEADERS = { Name: 'NAME', Services: 'SERVICES' };

/** Go's time.Time String() of an RFC 3339 timestamp, its fraction kept as Go prints it (trailing zeros dropped). */
export function goTime(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!m) return iso;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const zone = m[4] === 'Z' ? '+0000 UTC' : `${m[4].replace(':', '')} ${m[4].replace(':', '')}`;
  return `${m[1]} ${m[2]}${frac ? '.' + frac : ''} ${zone}`;
}

/** `node inspect --pretty`. */
export function nodePretty(n: Node): string {
  const lines: string[] = [`ID:\t\t\t${n.ID}`];
  if (n.Spec.Name) lines.push(`Name:\t\t\t${n.Spec.Name}`);
  const labels = n.Spec.Labels ?? {};
  if (Object.keys(labels).length) {
    lines.push('Labels:');
    for (const k of Object.keys(labels).sort()) lines.push(` - ${k}${labels[k] ? '=' + labels[k] : ''}`);
  }
  const d = n.Description ?? {};
  lines.push(`Hostname:              \t${d.Hostname ?? ''}`, `Joined at:             \t${pretty(goTime(n.CreatedAt))}`, 'Status:', ` State:\t\t\t${pretty(n.Status?.State)}`);
  if (n.Status?.Message) lines.push(` Message:              \t${pretty(n.Status.Message)}`);
  lines.push(` Availability:         \t${pretty(n.Spec.Availability)}`);
  if (n.Status?.Addr) lines.push(` Address:\t\t${n.Status.Addr}`);
  if (n.ManagerStatus) {
    lines.push('Manager Status:', ` Address:\t\t${n.ManagerStatus.Addr ?? ''}`, ` Raft Status:\t\t${pretty(n.ManagerStatus.Reachability)}`, ` Leader:\t\t${n.ManagerStatus.Leader ? 'Yes' : 'No'}`);
  }
  const cpus = d.Resources?.NanoCPUs ? Math.trunc(d.Resources.NanoCPUs / 1e9) : 0;
  const mem = d.Resources?.MemoryBytes ? bytesSize(d.Resources.MemoryBytes) : '';
  lines.push('Platform:', ` Operating System:\t${d.Platform?.OS ?? ''}`, ` Architecture:\t\t${d.Platform?.Architecture ?? ''}`, 'Resources:', ` CPUs:\t\t\t${cpus}`, ` Memory:\t\t${mem}`);
  const plugins = new Map<string, string[]>();
  for (const p of d.Engine?.Plugins ?? []) plugins.set(p.Type, [...(plugins.get(p.Type) ?? []), p.Name]);
  if (plugins.size) {
    lines.push('Plugins:');
    for (const k of [...plugins.keys()].sort()) lines.push(` ${k}:\t\t${plugins.get(k)!.join(', ')}`);
  }
  lines.push(`Engine Version:\t\t${d.Engine?.EngineVersion ?? ''}`);
  const el = d.Engine?.Labels ?? {};
  if (Object.keys(el).length) {
    lines.push('Engine Labels:');
    for (const k of Object.keys(el).sort()) lines.push(` - ${k}${el[k] ? '=' + el[k] : ''}`);
  }
  const tls = d.TLSInfo;
  if (!tlsEmpty(tls) && tls) {
    lines.push('TLS Info:', ' TrustRoot:', tls.TrustRoot ?? '', ` Issuer Subject:\t${tls.CertIssuerSubject ?? ''}`, ` Issuer Public Key:\t${tls.CertIssuerPublicKey ?? ''}`);
  }
  return lines.join('\n') + '\n';
}
