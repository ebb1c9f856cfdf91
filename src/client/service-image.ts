// What the Go client library does to a service's image on every create and
// update (moby client/service_create.go): a reference without tag or digest
// gets `:latest`; with QueryRegistry the daemon's registry lookup pins it to
// its digest and records its platforms, or a warning says each node will
// resolve it on its own.
import { familiarString, parseNormalizedNamed } from '../api/reference.ts';
import type { TaskSpec } from '../api/swarm.ts';
import type { EngineClient } from './engine-client.ts';

/** imageWithTagString: `busybox` → `busybox:latest`; a digest is left alone. */
export function taggedImage(image: string): string {
  try {
    const ref = parseNormalizedNamed(image);
    return familiarString(ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref);
  } catch {
    return image;
  }
}

export function digestWarning(image: string): string {
  return `image ${image} could not be accessed on a registry to record\nits digest. Each node will access ${image} independently,\npossibly leading to different nodes running different\nversions of the image.\n`;
}

/** Tags (and with `query`, pins) the task's image in place; returns the warnings to print. */
export async function prepareServiceImage(client: EngineClient, task: TaskSpec, query: boolean): Promise<string[]> {
  const cs = task.ContainerSpec;
  if (!cs) return [];
  cs.Image = taggedImage(cs.Image ?? '');
  if (!query) return [];
  let inspect: { Descriptor: { digest: string }; Platforms?: { architecture: string; os: string }[] | null };
  try {
    inspect = await client.call('GET', `/distribution/${cs.Image}/json`);
  } catch {
    return [digestWarning(cs.Image)];
  }
  try {
    const ref = parseNormalizedNamed(cs.Image);
    if (ref.digest === undefined) cs.Image = familiarString({ ...ref, digest: inspect.Descriptor.digest });
  } catch {
    // Not a reference: left as it is, as the Go client does.
  }
  const seen = new Set<string>();
  const platforms: { Architecture: string; OS: string }[] = [];
  for (const p of inspect.Platforms ?? []) {
    if (p.os === 'unknown' || p.architecture === 'unknown') continue;
    const arch = p.architecture.toLowerCase() === 'arm' ? '' : p.architecture;
    if (seen.has(`${arch}/${p.os}`)) continue;
    seen.add(`${arch}/${p.os}`);
    platforms.push({ Architecture: arch, OS: p.os });
  }
  if (platforms.length) (task.Placement ??= {}).Platforms = platforms;
  return [];
}
