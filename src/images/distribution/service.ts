// The daemon's registry side in one place: how hosts are reached (mirrors,
// insecure registries, certs.d) and what is known about pushed/pulled blobs.
import { RegistryHosts } from './hosts.ts';
import { LayerMetadata } from './metadata.ts';
import { TrustPolicy } from './trust-policy.ts';

export class Distribution {
  readonly hosts: RegistryHosts;
  readonly metadata: LayerMetadata;

  readonly policy?: TrustPolicy;

  constructor(root: string, c: { insecure: string[]; mirrors: string[]; certsDirs: string[]; trustPolicy?: string }) {
    this.hosts = new RegistryHosts({ insecureRegistries: c.insecure, registryMirrors: c.mirrors, certsDirs: c.certsDirs });
    this.policy = TrustPolicy.load(c.trustPolicy);
    this.metadata = new LayerMetadata(root);
  }

  async init(): Promise<void> {
    await this.metadata.init();
  }
}
