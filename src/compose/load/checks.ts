// The project's consistency, checked once merged and normalised, in compose
// v2's words: references to undefined services, networks, volumes, secrets
// and configs, a cycle in depends_on, duplicate container names.
import type { Project, Service } from '../model.ts';
import { ComposeError } from './errors.ts';

const INVALID = 'invalid compose project';

function checkService(s: Service, p: Project): void {
  const q = JSON.stringify(s.name);
  if (!s.image && !s.build) throw new ComposeError(`service ${q} has neither an image nor a build context specified: ${INVALID}`);
  if (s.build?.dockerfile && s.build.dockerfile_inline) throw new ComposeError(`service ${q} declares mutualy exclusive dockerfile and dockerfile_inline: ${INVALID}`);
  const explicitNetworks = Object.keys(s.networks).filter((n) => n !== 'default' || s.networks.default !== null);
  if (s.network_mode && explicitNetworks.length > 0) {
    throw new ComposeError(`service ${s.name} declares mutually exclusive \`network_mode\` and \`networks\`: ${INVALID}`);
  }
  for (const n of Object.keys(s.networks)) {
    if (!p.networks[n]) throw new ComposeError(`service ${q} refers to undefined network ${n}: ${INVALID}`);
  }
  const mode = /^service:(.*)$/.exec(s.network_mode ?? '');
  if (mode && !p.services[mode[1]]) throw new ComposeError(`service ${JSON.stringify(mode[1])} not found for network_mode 'service:${mode[1]}'`);
  for (const v of s.volumes) {
    if (v.type === 'volume' && v.source && !p.volumes[v.source]) {
      throw new ComposeError(`service ${q} refers to undefined volume ${v.source}: ${INVALID}`);
    }
  }
  for (const sec of s.secrets ?? []) {
    if (!p.secrets[sec.source]) throw new ComposeError(`service ${q} refers to undefined secret ${sec.source}: ${INVALID}`);
  }
  for (const sec of s.build?.secrets ?? []) {
    if (!p.secrets[sec.source]) throw new ComposeError(`service ${q} refers to undefined build secret ${sec.source}: ${INVALID}`);
  }
  for (const c of s.configs ?? []) {
    if (!p.configs[c.source]) throw new ComposeError(`service ${q} refers to undefined config ${c.source}: ${INVALID}`);
  }
  if (s.healthcheck?.test && s.healthcheck.test.length > 0 && !['CMD', 'CMD-SHELL', 'NONE'].includes(s.healthcheck.test[0])) {
    throw new ComposeError(`healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"`);
  }
  // One mount per container path, tmpfs entries included.
  const mounts = new Map<string, string>();
  (s.tmpfs ?? []).forEach((t, i) => {
    const path = t.split(':')[0];
    const loc = `services.${s.name}.tmpfs[${i}]`;
    const prev = mounts.get(path);
    if (prev !== undefined) throw new ComposeError(`${loc}: target ${path} already mounted as ${prev}`);
    mounts.set(path, loc);
  });
  s.volumes.forEach((v, i) => {
    const loc = `services.${s.name}.volumes[${i}]`;
    const prev = mounts.get(v.target);
    if (prev !== undefined) throw new ComposeError(`${loc}: target ${v.target} already mounted as ${prev}`);
    mounts.set(v.target, loc);
  });
}

/**
 * Resolves depends_on against the enabled and disabled services: an optional
 * (`required: false`) dependency that is missing is dropped with a warning.
 */
function checkDependencies(p: Project, warn: (m: string) => void): void {
  for (const s of Object.values(p.services)) {
    for (const [dep, d] of Object.entries(s.depends_on)) {
      if (p.services[dep]) continue;
      if (!d.required) {
        warn(`service ${JSON.stringify(s.name)} depends on undefined service ${JSON.stringify(dep)}: ignored as not required`);
        delete s.depends_on[dep];
        continue;
      }
      const disabled = p.disabledServices[dep];
      if (disabled) {
        throw new ComposeError(`service ${JSON.stringify(dep)} is required by ${JSON.stringify(s.name)} but is disabled. Can be enabled by profiles [${(disabled.profiles ?? []).join(' ')}]`);
      }
      throw new ComposeError(`service ${JSON.stringify(s.name)} depends on undefined service ${JSON.stringify(dep)}: ${INVALID}`);
    }
  }
  // A cycle, reported as compose-go's graph walk finds it.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const i = path.indexOf(name);
      throw new ComposeError(`dependency cycle detected: ${[...path.slice(i), name].join(' -> ')}`);
    }
    state.set(name, 'visiting');
    for (const dep of Object.keys(p.services[name]?.depends_on ?? {}).sort()) visit(dep, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(p.services).sort()) visit(name, []);
}

export function checkProject(p: Project, warn: (m: string) => void): void {
  checkDependencies(p, warn);
  const names = new Map<string, string>();
  for (const s of Object.values(p.services)) {
    checkService(s, p);
    if (s.container_name) {
      const other = names.get(s.container_name);
      if (other) throw new ComposeError(`services.${s.name}: container name ${JSON.stringify(s.container_name)} is already in use by service ${other}"`);
      names.set(s.container_name, s.name);
      if ((s.scale ?? 1) > 1) throw new ComposeError(`services.${s.name}: can't set container_name and ${s.name} as container name must be unique: ${INVALID}`);
    }
  }
}
