// /_ping, /version, /info, /events.
import { cpus, hostname, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { ApiServer } from '../server.ts';
import { API_VERSION, ENGINE_VERSION, MIN_API_VERSION } from '../server.ts';
import type { Engine } from '../engine.ts';
import { checkFilterKeys, parseFilters } from './query.ts';
import { matchesEventFilters } from '../../events/bus.ts';
import { parseTimestampArg } from '../../api/timestamps.ts';

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m ? m[1] : 'Linux';
  } catch {
    return 'Linux';
  }
}

function cgroupVersion(): '1' | '2' {
  try {
    readFileSync('/sys/fs/cgroup/cgroup.controllers');
    return '2';
  } catch {
    return '1';
  }
}

export function systemRoutes(api: ApiServer, engine: Engine): void {
  const ping = () => ({
    raw: 'OK',
    headers: { 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Builder-Version': '1', 'Swarm': engine.cluster.header },
  });
  api.route('GET', '/_ping', ping);
  api.route('HEAD', '/_ping', ping);

  api.route('GET', '/version', () => {
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: 'amd64', KernelVersion: release(), GitCommit: '', GoVersion: `node ${process.version}`, BuildTime: '', Experimental: 'false' };
    return {
      body: {
        Platform: { Name: 'berth' },
        Components: [{ Name: 'Engine', Version: ENGINE_VERSION, Details: details }],
        Version: ENGINE_VERSION,
        ApiVersion: API_VERSION,
        MinAPIVersion: MIN_API_VERSION,
        GitCommit: '',
        GoVersion: `node ${process.version}`,
        Os: 'linux',
        Arch: 'amd64',
        KernelVersion: release(),
        BuildTime: '',
      },
    };
  });

  api.route('GET', '/info', async () => {
    const list = engine.containers.list();
    const running = list.filter((c) => c.State.Running).length;
    const paused = list.filter((c) => c.State.Paused).length;
    const cfg = engine.config;
    return {
      body: {
        ID: engine.id,
        Containers: list.length,
        ContainersRunning: running,
        ContainersPaused: paused,
        ContainersStopped: list.length - running - paused,
        Images: engine.images.store.list().length,
        Driver: 'overlay2',
        DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true'], ['Using metacopy', 'false'], ['Native Overlay Diff', 'true'], ['userxattr', 'false']],
        Plugins: { Volume: ['local'], Network: ['host', 'none'], Authorization: null, Log: ['json-file', 'none'] },
        MemoryLimit: true, SwapLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
        OomKillDisable: cgroupVersion() === '1', IPv4Forwarding: true, Debug: cfg.debug,
        NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(), LoggingDriver: cfg.logDriver,
        CgroupDriver: 'cgroupfs', CgroupVersion: cgroupVersion(), NEventsListener: engine.eventListeners,
        KernelVersion: release(), OperatingSystem: osName(), OSVersion: '', OSType: 'linux', Architecture: 'x86_64',
        IndexServerAddress: 'https://index.docker.io/v1/',
        RegistryConfig: engine.distribution.hosts.registryConfig(),
        NCPU: cpus().length, MemTotal: totalmem(), GenericResources: null, DockerRootDir: cfg.dataRoot,
        HttpProxy: process.env.HTTP_PROXY ?? '', HttpsProxy: process.env.HTTPS_PROXY ?? '', NoProxy: process.env.NO_PROXY ?? '',
        Name: hostname(), Labels: [], ExperimentalBuild: false, ServerVersion: ENGINE_VERSION,
        Runtimes: Object.fromEntries(Object.entries(cfg.runtimes).map(([n, r]) => [n, { path: r.path, ...(r.runtimeArgs ? { runtimeArgs: r.runtimeArgs } : {}) }])),
        DefaultRuntime: cfg.defaultRuntime,
        Swarm: await engine.cluster.info(),
        LiveRestoreEnabled: true, Isolation: '', InitBinary: 'docker-init',
        ContainerdCommit: { ID: '' }, RuncCommit: { ID: '' }, InitCommit: { ID: '' },
        SecurityOptions: ['name=seccomp,profile=builtin', ...(cfg.usernsRemap ? ['name=userns'] : [])],
        Warnings: [],
      },
    };
  });

  api.route('GET', '/events', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    checkFilterKeys(filters, ['config', 'container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume']);
    const now = new Date();
    const sinceQ = ctx.query.get('since');
    const untilQ = ctx.query.get('until');
    const sinceNs = sinceQ ? BigInt(Math.round(parseTimestampArg(sinceQ, now) * 1e9)) : undefined;
    const untilNs = untilQ ? BigInt(Math.round(parseTimestampArg(untilQ, now) * 1e9)) : undefined;
    const out = ctx.stream(200, 'application/json');
    const send = (ev: Parameters<typeof matchesEventFilters>[0]) => {
      if (untilNs !== undefined && BigInt(ev.timeNano) > untilNs) return;
      if (matchesEventFilters(ev, filters)) out.write(JSON.stringify(ev) + '\n');
    };
    // Subscribe before replaying, so nothing falls between history and live.
    const live: Parameters<typeof send>[0][] = [];
    let replaying = true;
    const unsubscribe = engine.events.subscribe((ev) => (replaying ? live.push(ev) : send(ev)));
    engine.eventListeners++;
    if (sinceNs !== undefined) for (const ev of engine.events.since(sinceNs)) send(ev);
    replaying = false;
    for (const ev of live) send(ev);
    await new Promise<void>((resolve) => {
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      if (untilNs !== undefined) {
        const ms = Number(untilNs / 1_000_000n) - Date.now();
        setTimeout(resolve, Math.max(0, ms)).unref();
      }
    });
    unsubscribe();
    engine.eventListeners--;
    out.end();
  });
}
