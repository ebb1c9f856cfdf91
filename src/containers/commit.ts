// `docker commit`: an image of a container's filesystem changes, its config
// merged with the request's as dockerd merges them.
import type { ContainerConfig } from '../api/container.ts';
import { familiarString, parseNormalizedNamed, withDefaultTag } from '../api/reference.ts';
import { ConflictError, InvalidArgumentError } from '../errors.ts';
import { applyChanges } from '../images/changes.ts';
import { createImage } from '../images/commit.ts';
import type { Image, ImageStore } from '../images/store.ts';
import type { Snapshotter } from '../storage/snapshotter.ts';
import type { ContainerService } from './service.ts';

export interface CommitOptions {
  repo?: string;
  tag?: string;
  author?: string;
  comment?: string;
  /** Dockerfile instructions (`-c 'CMD …'`). */
  changes: string[];
  /** The request body's config (API `POST /commit`). */
  config?: ContainerConfig;
  /** Freeze the container while its diff is taken (the default). */
  pause: boolean;
}

/** `docker commit`: an image of the container's filesystem changes; returns the image ID. */
export async function commitContainer(
  containers: ContainerService, store: ImageStore, snapshots: Snapshotter, ref: string, o: CommitOptions,
): Promise<string> {
  const rec = containers.get(ref);
  let target: string | undefined;
  if (o.repo) {
    const named = parseNormalizedNamed(o.tag ? `${o.repo}:${o.tag}` : o.repo);
    if (named.digest) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
    target = familiarString(withDefaultTag(named));
  }
  const base = store.byId(rec.Image);
  const userConf = applyChanges({ ...(o.config ?? {}) }, o.changes);
  const config = mergeCommitConfig(userConf, rec.Config);
  let pause = o.pause && rec.State.Running && !rec.State.Paused;
  if (pause) {
    try {
      await containers.pause(rec.Id, { forCommit: true });
    } catch (err) {
      // It exited meanwhile: nothing runs that could change the filesystem under us.
      if (!(err instanceof ConflictError)) throw err;
      pause = false;
    }
  }
  let img: Image;
  try {
    img = await createImage(store, snapshots, {
      base,
      config,
      containerConfig: rec.Config,
      container: rec.Id,
      author: o.author,
      comment: o.comment,
      history: { created_by: (rec.Config.Cmd ?? []).join(' '), ...(o.comment ? { comment: o.comment } : {}) },
    }, rec.Id);
  } finally {
    if (pause) await containers.unpause(rec.Id).catch(() => {});
  }
  if (target) await store.tag(img.record.id, target);
  return img.record.id;
}

/** dockerd's merge of a commit's config into the container's: what the new one leaves unset comes from the old. */
export function mergeCommitConfig(userConf: ContainerConfig, containerConf: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...containerConf, ...stripEmpty(userConf) };
  if (userConf.Env?.length) {
    const env = new Map<string, string>();
    for (const e of [...(containerConf.Env ?? []), ...userConf.Env]) env.set(e.split('=')[0], e);
    out.Env = [...env.values()];
  }
  if (userConf.ExposedPorts) out.ExposedPorts = { ...(containerConf.ExposedPorts ?? {}), ...userConf.ExposedPorts };
  if (userConf.Volumes) out.Volumes = { ...(containerConf.Volumes ?? {}), ...userConf.Volumes };
  if (userConf.Labels) out.Labels = { ...(containerConf.Labels ?? {}), ...userConf.Labels };
  // A new entrypoint without a command drops the old command, as dockerd does.
  if (userConf.Entrypoint?.length && !userConf.Cmd?.length) out.Cmd = userConf.Cmd ?? containerConf.Cmd ?? null;
  return out;
}

function stripEmpty(c: ContainerConfig): ContainerConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out as ContainerConfig;
}
