// GET /distribution/{name}/json: what a registry holds for a reference — the
// top manifest's descriptor and the platforms it offers (an index's entries,
// or one image's from its config) — without pulling anything.
import { parseNormalizedNamed, withDefaultTag, familiarName } from '../../api/reference.ts';
import { NotFoundError, SystemError, UnauthorizedError } from '../../errors.ts';
import type { Credentials } from './auth.ts';
import { RegistryClient, RegistryResponseError, RegistryUnreachableError } from './client.ts';
import type { RegistryHosts } from './hosts.ts';
import { fetchManifest, isIndex, parseImageManifest, parseIndex } from './manifests.ts';

export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: { architecture: string; os: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] }[];
}

export async function inspectDistribution(refString: string, o: { creds?: Credentials; hosts?: RegistryHosts; signal?: AbortSignal }): Promise<DistributionInspect> {
  const ref = withDefaultTag(parseNormalizedNamed(refString));
  const client = new RegistryClient(ref.domain, ref.path, { creds: o.creds, signal: o.signal, hosts: o.hosts });
  try {
    await client.ping();
    const top = await fetchManifest(client, ref.digest ?? (ref.tag as string));
    const Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    if (isIndex(top)) {
      return { Descriptor, Platforms: parseIndex(top).filter((d) => d.platform).map((d) => ({ ...(d.platform as DistributionInspect['Platforms'][number]) })) };
    }
    const manifest = parseImageManifest(top);
    const res = await client.get(`blobs/${manifest.config.digest}`);
    const config = (await res.json()) as { architecture?: string; os?: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
    return {
      Descriptor,
      Platforms: [{
        architecture: config.architecture ?? '', os: config.os ?? '',
        ...(config.variant ? { variant: config.variant } : {}),
        ...(config['os.version'] ? { 'os.version': config['os.version'] } : {}),
        ...(config['os.features'] ? { 'os.features': config['os.features'] } : {}),
      }],
    };
  } catch (err) {
    if (err instanceof RegistryResponseError) {
      // dockerd answers 401 for "failed authentication or no image found" (Docker Hub's answer to both).
      if (err.status === 401 || err.status === 403) throw new UnauthorizedError(`errors:\ndenied: requested access to the resource is denied\nunauthorized: ${err.message}\n`);
      if (err.status === 404) throw new NotFoundError(`manifest unknown: ${familiarName(ref)}: ${err.message}`);
      throw new SystemError(`received unexpected HTTP status: ${err.status}`);
    }
    if (err instanceof RegistryUnreachableError) throw new SystemError(err.message);
    throw err;
  }
}
