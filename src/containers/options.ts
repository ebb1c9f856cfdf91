// The daemon configuration the container services need, handed down from start-up.
import type { IdMapping } from '../runtime/userns.ts';

/** What the container service takes from the daemon's configuration. */
export interface ContainerServiceOptions {
  dataRoot: string;
  /** Where shims keep their sockets and bundles. */
  execRoot: string;
  shimPath: string;
  /** The init binary `--init` runs (tini). */
  initPath: string;
  cgroupParent: string;
  defaultRuntime: string;
  runtimes: Record<string, { path: string; runtimeArgs?: string[] }>;
  logDriver: string;
  logOpts: Record<string, string>;
  /** userns-remap: the maps of remapped containers (ADR 0005). */
  usernsRemap?: { mapping: IdMapping };
  /** With it: the snapshots directory, and where its idmapped view is mounted. */
  layerView?: { from: string; to: string };
  /** The helper that makes a remapped container's user and network namespaces. */
  idmapPath?: string;
}
