// The composition root: every service of one daemon, wired together once.
import { join } from 'node:path';
import { chmod, chown, mkdir, readFile } from 'node:fs/promises';
import { blockingAncestor, mountIdmappedView, rootPair } from '../runtime/userns.ts';
import { SystemError } from '../errors.ts';
import { randomUUID } from 'node:crypto';
import { removeTempFiles, writeFileAtomic } from '../files/atomic.ts';
import { OverlaySnapshotter } from '../storage/overlay.ts';
import { ContentStore } from '../images/content.ts';
import { LayerStore } from '../images/layers.ts';
import { ImageStore } from '../images/store.ts';
import { ImageService } from '../images/service.ts';
import { Distribution } from '../images/distribution/service.ts';
import { taskImages } from './task-images.ts';
import { ContainerService } from '../containers/service.ts';
import { ExecService } from '../containers/exec.ts';
import { HealthMonitor } from '../containers/health.ts';
import { LogForwarder } from '../containers/log-forward.ts';
import { ContextCache } from '../build/context-cache.ts';
import { RootfsAccess } from '../containers/rootfs-access.ts';
import { ContainerArchive } from '../containers/archive.ts';
import { EventBus } from '../events/bus.ts';
import { NetworkService } from '../network/service.ts';
import { VolumeService } from '../volumes/service.ts';
import { ClusterService } from '../cluster/service.ts';
import { clusterEngine } from './cluster-engine.ts';
import { ENGINE_VERSION } from './server.ts';
import type { DaemonConfig } from './config.ts';

export class Engine {
  readonly config: DaemonConfig;
  readonly events = new EventBus();
  readonly snapshots: OverlaySnapshotter;
  readonly images: ImageService;
  readonly distribution: Distribution;
  readonly containers: ContainerService;
  readonly execs: ExecService;
  readonly health: HealthMonitor;
  readonly logForwarder: LogForwarder;
  /** The build cache: unpacked contexts kept between builds, and RUN --mount=type=cache directories. */
  readonly buildContexts = new ContextCache();
  readonly buildCacheRoot: string;
  readonly networks: NetworkService;
  readonly volumes: VolumeService;
  /** Stopped containers' filesystems mounted for export and cp. */
  readonly rootfs: RootfsAccess;
  readonly archive: ContainerArchive;
  /** Swarm mode: this node's membership, the scheduler on the leader, the agent (ADR 0009). */
  readonly cluster: ClusterService;
  readonly layerView?: { from: string; to: string };
  id = '';
  /** Containers the restart policies could not start at init, for the daemon's log. */
  readonly bootFailures: string[] = [];
  eventListeners = 0;

  constructor(config: DaemonConfig) {
    this.config = config;
    this.buildCacheRoot = join(config.dataRoot, 'build', 'cache');
    this.snapshots = new OverlaySnapshotter(join(config.dataRoot, 'overlay2'));
    const content = new ContentStore(join(config.dataRoot, 'image'));
    const layers = new LayerStore(this.snapshots, content);
    this.images = new ImageService(new ImageStore(join(config.dataRoot, 'image'), content, layers), this.events);
    this.distribution = new Distribution(join(config.dataRoot, 'image', 'distribution'), config.registries);
    this.images.policy = this.distribution.policy;
    this.networks = new NetworkService(config, this.events);
    this.volumes = new VolumeService(config.dataRoot, this.events, config.usernsRemap && rootPair(config.usernsRemap.mapping));
    // userns-remap: remapped containers' overlays read the layers through an idmapped view (ADR 0005).
    const layerView = config.usernsRemap ? { from: join(config.dataRoot, 'overlay2', 'snapshots'), to: join(config.execRoot, 'userns-layers') } : undefined;
    this.layerView = layerView;
    this.containers = new ContainerService({ ...config, layerView }, this.images.store, this.snapshots, this.events, this.networks, this.volumes);
    this.networks.bindContainers(this.containers);
    this.execs = new ExecService(config, this.containers, this.events);
    this.health = new HealthMonitor(this.containers, this.execs, this.events);
    this.logForwarder = new LogForwarder(this.containers, this.events);
    this.rootfs = new RootfsAccess(this.containers, config.execRoot, { usernsRemap: config.usernsRemap, layerView });
    this.archive = new ContainerArchive(this.containers, this.rootfs, this.events);
    this.cluster = new ClusterService(config.dataRoot, clusterEngine(this.containers, this.networks, this.events, ENGINE_VERSION, config.dataRoot, taskImages(this.images, this.distribution)));
    // Overlay addresses are the swarm's: a container's start asks the cluster for one.
    this.networks.bindSwarm({
      allocate: (net, owner) => this.cluster.allocateAddress(net, owner),
      release: (net, ip) => this.cluster.releaseAddress(net, ip),
    });
  }

  async init(): Promise<void> {
    await mkdir(this.config.dataRoot, { recursive: true, mode: 0o710 });
    await mkdir(this.config.execRoot, { recursive: true, mode: 0o700 });
    // A temp file of the engine-id's atomic write a crash cut short; the
    // snapshotter, the image store and the containers sweep their own.
    await removeTempFiles(this.config.dataRoot);
    this.id = await this.engineId();
    await this.snapshots.init();
    if (this.config.usernsRemap && this.layerView) {
      // The remapped root must traverse the exec root to its rootfs, and no one
      // else: root's, group the remapped root's, 0710, as dockerd's remapped root dir.
      const root = rootPair(this.config.usernsRemap.mapping);
      await chown(this.config.execRoot, 0, root.gid);
      await chmod(this.config.execRoot, 0o710);
      const blocking = blockingAncestor(this.config.execRoot, root);
      if (blocking) throw new SystemError(`a subdirectory in your exec root path (${this.config.execRoot}) restricts access to the remapped root uid/gid: ${blocking}; please fix by allowing 'o+x' permissions on existing directories`);
      await mountIdmappedView(this.config.idmapPath, this.layerView.from, this.layerView.to, this.config.usernsRemap.mapping);
    }
    await this.images.store.content.init();
    await this.images.store.init();
    await this.networks.init();
    await this.distribution.init();
    this.rootfs.sweep();
    // Before the containers: their restore re-takes volume references.
    await this.volumes.init();
    await this.containers.restore();
    // The restore removed the unpacks a crash cut short; the layers under them can go now.
    await this.images.store.pruneUnusedLayers();
    await this.networks.finishRestore();
    this.health.resume();
    this.logForwarder.resume();
    // As dockerd: containers whose restart policy says so come back with the daemon.
    for (const failure of await this.containers.startOnBoot()) this.bootFailures.push(failure);
    // After the containers: the agent adopts the task containers still running.
    await this.cluster.restore();
  }

  private async engineId(): Promise<string> {
    const p = join(this.config.dataRoot, 'engine-id');
    try {
      return (await readFile(p, 'utf8')).trim();
    } catch {
      const id = randomUUID();
      await writeFileAtomic(p, id + '\n');
      return id;
    }
  }
}
