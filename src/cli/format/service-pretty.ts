// `service inspect --pretty`: the docker CLI's human-readable template
// (service/formatter.go), written out field by field.
import { bytesSize } from '../../api/units.ts';
import type { Service, UpdateConfig } from '../../api/swarm.ts';
import { goTime, pretty } from './swarm-context.ts';

/** Go's time.Duration String(): 5s, 1m30s, 1.5s, 300ms, 0s. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trim(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trim(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    out = `${h ? h + 'h' : ''}${h || m ? m + 'm' : ''}${trim(n / 1e9)}s`;
  }
  return (neg ? '-' : '') + out;
}

const trim = (x: number) => String(Number(x.toFixed(9)));

function updateLines(title: string, orderTitle: string, c: UpdateConfig | undefined): string[] {
  if (!c) return [];
  const l = [`${title}:`, ` Parallelism:\t${c.Parallelism ?? 0}`];
  if (c.Delay) l.push(` Delay:\t\t${goDuration(c.Delay)}`);
  l.push(` On failure:\t${c.FailureAction ?? ''}`);
  if (c.Monitor) l.push(` Monitoring Period: ${goDuration(c.Monitor)}`);
  l.push(` Max failure ratio: ${c.MaxFailureRatio ?? 0}`, ` ${orderTitle}${c.Order ?? ''}`);
  return l;
}

/** `networks` maps a network ID to its name where it could be looked up. */
export function servicePretty(s: Service, networks: Map<string, string>): string {
  const spec = s.Spec;
  const cs = spec.TaskTemplate.ContainerSpec ?? {};
  const l: string[] = ['', `ID:\t\t${s.ID}`, `Name:\t\t${spec.Name ?? ''}`];
  const labels = spec.Labels ?? {};
  if (Object.keys(labels).length) {
    l.push('Labels:');
    for (const k of Object.keys(labels).sort()) l.push(` ${k}${labels[k] ? '=' + labels[k] : ''}`);
  }
  const mode = spec.Mode ?? {};
  if (mode.Global) l.push('Service Mode:\tGlobal');
  else if (mode.Replicated) {
    l.push('Service Mode:\tReplicated');
    if (mode.Replicated.Replicas !== undefined) l.push(` Replicas:\t${mode.Replicated.Replicas}`);
  } else l.push('Service Mode:');
  const u = s.UpdateStatus;
  if (u) {
    l.push('UpdateStatus:', ` State:\t\t${u.State ?? ''}`);
    if (u.StartedAt) l.push(` Started:\t${goTime(u.StartedAt)}`);
    if (u.State === 'completed' && u.CompletedAt) l.push(` Completed:\t${goTime(u.CompletedAt)}`);
    l.push(` Message:\t${u.Message ?? ''}`);
  }
  const p = spec.TaskTemplate.Placement ?? {};
  l.push('Placement:');
  if (p.Constraints?.length) l.push(` Constraints:\t[${p.Constraints.join(' ')}]`);
  if (p.Preferences?.length) l.push(` Preferences:   [${p.Preferences.map((x) => `spread=${x.Spread.SpreadDescriptor}`).join(' ')}]`);
  if (p.MaxReplicas) l.push(` Max Replicas Per Node:   ${p.MaxReplicas}`);
  l.push(...updateLines('UpdateConfig', 'Update order:      ', spec.UpdateConfig));
  l.push(...updateLines('RollbackConfig', 'Rollback order:    ', spec.RollbackConfig));
  l.push('ContainerSpec:', ` Image:\t\t${cs.Image ?? ''}`);
  // The template's `{{- end -}}` joins these onto the line above them.
  let tail = '';
  if (cs.Args?.length) tail += `\n Args:\t\t${cs.Args.map((a) => a + ' ').join('')}`;
  if (cs.Env?.length) tail += `\n Env:\t\t${cs.Env.map((a) => a + ' ').join('')}`;
  if (cs.Dir) tail += `\n Dir:\t\t${cs.Dir}`;
  if (cs.Init !== undefined && cs.Init !== null) tail += `\n Init:\t\t${cs.Init}`;
  l[l.length - 1] += tail;
  if (cs.User) l.push(` User: ${cs.User}`);
  if (cs.CapabilityAdd?.length || cs.CapabilityDrop?.length) {
    l.push('Capabilities:');
    if (cs.CapabilityAdd?.length) l.push(` Add: ${cs.CapabilityAdd.join(', ')}`);
    if (cs.CapabilityDrop?.length) l.push(` Drop: ${cs.CapabilityDrop.join(', ')}`);
  }
  const sysctls = cs.Sysctls ?? {};
  if (Object.keys(sysctls).length) {
    l.push('SysCtls:');
    for (const k of Object.keys(sysctls).sort()) l.push(` ${k}${sysctls[k] ? ': ' + sysctls[k] : ''}`);
  }
  if (cs.Ulimits?.length) {
    // A map in the template: by name.
    l.push('Ulimits:');
    for (const u of [...cs.Ulimits].sort((a, b) => (a.Name < b.Name ? -1 : 1))) l.push(` ${u.Name}: ${u.Soft}:${u.Hard}`);
  }
  if (cs.Mounts?.length) l.push('Mounts:');
  let mounts = '';
  for (const m of cs.Mounts ?? []) mounts += `\n Target:\t${m.Target ?? ''}\n  Source:\t${m.Source ?? ''}\n  ReadOnly:\t${m.ReadOnly === true}\n  Type:\t\t${m.Type ?? ''}`;
  l[l.length - 1] += mounts;
  if (cs.Configs?.length) {
    l.push('Configs:');
    for (const c of cs.Configs) l.push(` Target:\t${c.File?.Name ?? ''}`, `  Source:\t${c.ConfigName ?? ''}`);
  }
  if (cs.Secrets?.length) {
    l.push('Secrets:');
    for (const c of cs.Secrets) l.push(` Target:\t${c.File?.Name ?? ''}`, `  Source:\t${c.SecretName ?? ''}`);
  }
  const ld = spec.TaskTemplate.LogDriver;
  if (ld) {
    l.push('Log Driver:');
    if (ld.Name) l.push(` Name:\t\t${ld.Name}`);
    const opts = ld.Options ?? {};
    if (Object.keys(opts).length) {
      l.push(' LogOpts:');
      for (const k of Object.keys(opts).sort()) l.push(`  ${k}${opts[k] ? ':       ' + opts[k] : ''}`);
    }
    l.push('');
  }
  const r = spec.TaskTemplate.Resources;
  const res = r?.Reservations ?? {};
  const lim = r?.Limits ?? {};
  const hasRes = Boolean(res.NanoCPUs || res.MemoryBytes);
  const hasLim = Boolean(lim.NanoCPUs || lim.MemoryBytes || lim.Pids);
  if (r) {
    l.push('Resources:');
    if (hasRes) {
      l.push(' Reservations:');
      if (res.NanoCPUs) l.push(`  CPU:\t\t${res.NanoCPUs / 1e9}`);
      if (res.MemoryBytes) l.push(`  Memory:\t${bytesSize(res.MemoryBytes)}`);
    }
    if (hasLim) {
      l.push(' Limits:');
      if (lim.NanoCPUs) l.push(`  CPU:\t\t${lim.NanoCPUs / 1e9}`);
      if (lim.MemoryBytes) l.push(`  Memory:\t${bytesSize(lim.MemoryBytes)}`);
    }
  }
  if (lim.Pids) l.push(`  PIDs:\t\t${lim.Pids}`);
  const nets = spec.TaskTemplate.Networks ?? [];
  if (nets.length) l.push(`Networks:${nets.map((n) => ' ' + (networks.get(n.Target) ?? n.Target)).join('')} `);
  l.push(`Endpoint Mode:\t${spec.EndpointSpec?.Mode ?? ''}`);
  // The ports the service has (its Endpoint), not the ones asked for.
  const ports = s.Endpoint?.Ports ?? [];
  if (ports.length) {
    l.push('Ports:');
    for (const pt of ports) l.push(` PublishedPort = ${pt.PublishedPort ?? 0}`, `  Protocol = ${pt.Protocol ?? ''}`, `  TargetPort = ${pt.TargetPort ?? 0}`, `  PublishMode = ${pt.PublishMode ?? ''}`);
    l[l.length - 1] += ' ';
  }
  const h = cs.Healthcheck;
  if (h) {
    l.push(' Healthcheck:', `  Interval = ${goDuration(h.Interval ?? 0)}`, `  Retries = ${h.Retries ?? 0}`, `  StartPeriod =\t${goDuration(h.StartPeriod ?? 0)}`, `  Timeout =\t${goDuration(h.Timeout ?? 0)}`);
    if (h.Test?.length) {
      l.push('  Tests:');
      for (const t of h.Test) l.push(`\t Test = ${t}`);
      l[l.length - 1] += ' ';
    }
  }
  // The docker CLI's template ends with an empty line.
  return l.join('\n') + '\n\n';
}

export { pretty };
