// Profiles: a service with none is always on; one with profiles only when one
// of them is active (`*` activates all). A service named on the command line
// is switched on with what it depends on, whatever their profiles say.
import type { Project, Service } from '../model.ts';

export function isEnabled(service: Pick<Service, 'profiles'>, active: string[]): boolean {
  const p = service.profiles ?? [];
  return p.length === 0 || active.includes('*') || p.some((x) => active.includes(x));
}

/** Splits services into enabled and disabled by the active profiles. */
export function applyProfiles(services: Record<string, Service>, active: string[]): { enabled: Record<string, Service>; disabled: Record<string, Service> } {
  const enabled: Record<string, Service> = {};
  const disabled: Record<string, Service> = {};
  for (const [name, s] of Object.entries(services)) (isEnabled(s, active) ? enabled : disabled)[name] = s;
  return { enabled, disabled };
}

/**
 * The project with the named services (and, transitively, their
 * dependencies) enabled even when their profiles are not active, as compose
 * does for `up svc`/`run svc`. Unknown names are left for the caller to report.
 */
export function withServicesEnabled(project: Project, names: string[]): Project {
  const services = { ...project.services };
  const disabledServices = { ...project.disabledServices };
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    const s = disabledServices[name];
    if (!s) continue;
    delete disabledServices[name];
    services[name] = s;
    queue.push(...Object.keys(s.depends_on));
  }
  return { ...project, services, disabledServices };
}

/** All profile names the project's services mention, sorted (`config --profiles`). */
export function profileNames(project: Project): string[] {
  const all = new Set<string>();
  for (const s of [...Object.values(project.services), ...Object.values(project.disabledServices)]) for (const p of s.profiles ?? []) all.add(p);
  return [...all].sort();
}
