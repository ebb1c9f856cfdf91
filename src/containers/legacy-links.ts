// Legacy links (--link on the default bridge) as names: a link makes its
// target known as /<parent>/<alias> (in `ps` Names, as dockerd lists them),
// and DELETE /containers/<parent>/<alias>?link=true removes it.
import type { ContainerRecord } from '../api/container.ts';
import { ConflictError, NotFoundError } from '../errors.ts';

/** "target:alias" or "target" → [target, alias], names without their slash. */
function parseLink(link: string): [string, string] {
  const colon = link.indexOf(':');
  const target = (colon < 0 ? link : link.slice(0, colon)).replace(/^\//, '');
  const alias = (colon < 0 ? target : link.slice(colon + 1)).replace(/^.*\//, '');
  return [target, alias];
}

/** Every link name by its target container's id: /<parent>/<alias>. */
export function linkNames(all: ContainerRecord[], find: (ref: string) => ContainerRecord | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const parent of all) {
    for (const link of parent.HostConfig.Links ?? []) {
      const [target, alias] = parseLink(link);
      const t = find(target);
      if (t) out.set(t.Id, [...(out.get(t.Id) ?? []), `${parent.Name}/${alias}`]);
    }
  }
  return out;
}

/** Drops the parent's link named `alias`; dockerd's errors for a missing parent or link. */
export function removeLink(parent: ContainerRecord | undefined, parentName: string, alias: string): void {
  if (!parentName) throw new ConflictError('Conflict, cannot remove the default link name of the container');
  if (!parent) throw new NotFoundError(`Cannot get parent /${parentName} for link name /${parentName}/${alias}`);
  const links = parent.HostConfig.Links ?? [];
  const left = links.filter((l) => parseLink(l)[1] !== alias);
  if (left.length === links.length) throw new NotFoundError(`No such container: /${parentName}/${alias}`);
  parent.HostConfig.Links = left.length ? left : null;
}
