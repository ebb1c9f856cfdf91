// COPY and ADD: sources from the context, another stage or image, URLs
// (ADD) and git repositories (ADD), heredocs; --chown, --chmod, --link,
// --parents, --exclude, --checksum. The layer is written as a tar from the
// sources, linking context files rather than copying them.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContainerConfig } from '../api/container.ts';
import { ignoreMatcher } from '../api/dockerignore.ts';
import { recordImage } from '../images/commit.ts';
import type { LayerInfo } from '../images/layers.ts';
import type { Image } from '../images/store.ts';
import { resolveUser } from '../runtime/user.ts';
import { resolveInRoot } from '../files/rootpath.ts';
import {
  BuildStepError, checksumEntries, entriesLayer, isArchiveFile, planCopy, type CopyEntry, type PlanInput, type SourceRoot,
} from './copy.ts';
import { expandWord, type Instruction } from './dockerfile/index.ts';
import { checkoutGit, GitError, GitSubdirError, isGitSource, parseGitRef, resolveCommit, type GitCheckout, type GitRef } from './git-remote.ts';
import { boolFlag, checkFlags, flagValue, flagValues, stageRef } from './instruction-flags.ts';
import { DEFAULT_SHELL, layerDirs, type Stage, type StageState, type StepContext } from './step-context.ts';

/** What planCopy needs for sources under `root`, with the image's layers (`lowers`) for the destination. */
export function copyPlanFor(root: SourceRoot, sources: string[], dest: string, destIsDir: boolean, instruction: 'COPY' | 'ADD', lowers: string[] = []): PlanInput {
  return {
    root,
    sources,
    dest,
    destIsDir,
    instruction,
    extractArchives: instruction === 'ADD' && root.isContext,
    isDirInImage: async (p: string) => {
      for (const dir of lowers) {
        const s = await lstat(resolveInRoot(dir, p)).catch(() => undefined);
        if (s) return s.isDirectory();
      }
      return false;
    },
  };
}

/** COPY and ADD: a layer tar made straight from the sources, keyed by their checksum. */
export async function copyStep(c: StepContext, s: Stage, st: StageState, i: Instruction, env: Map<string, string>): Promise<void> {
  const kw = i.keyword === 'add' ? 'ADD' : 'COPY';
  checkFlags(i, kw === 'ADD' ? ['chown', 'chmod', 'checksum', 'link', 'exclude', 'unpack', 'keep-git-dir'] : ['from', 'chown', 'chmod', 'link', 'exclude', 'parents']);
  const link = boolFlag(i, 'link');
  const parents = boolFlag(i, 'parents');
  const keepGitDir = boolFlag(i, 'keep-git-dir');
  const excludes = flagValues(i, 'exclude').map((x) => expandWord(x, env));
  const unpackRaw = flagValue(i, 'unpack');
  if (unpackRaw !== undefined && !['true', 'false', '1', '0'].includes(unpackRaw)) throw new BuildStepError(`invalid value for --unpack: ${unpackRaw}`);
  const unpack = unpackRaw === undefined ? undefined : unpackRaw === 'true' || unpackRaw === '1';
  if (i.args.length < 2) throw new BuildStepError(`${kw} requires at least two arguments, but only one was provided. Destination could not be determined`);
  const ex = (w: string) => expandWord(w, env);
  const chown = flagValue(i, 'chown') !== undefined ? ex(flagValue(i, 'chown') as string) : undefined;
  const chmodRaw = flagValue(i, 'chmod');
  let chmod: number | undefined;
  if (chmodRaw !== undefined) {
    if (!/^[0-7]{3,4}$/.test(chmodRaw)) throw new BuildStepError(`invalid chmod parameter ${chmodRaw}`);
    chmod = parseInt(chmodRaw, 8);
  }
  const checksum = flagValue(i, 'checksum');
  const from = flagValue(i, 'from') !== undefined ? ex(flagValue(i, 'from') as string) : undefined;
  if (from !== undefined) {
    const ref = stageRef(c.stages, from);
    if (ref && ref.index >= s.index) throw new BuildStepError(`invalid from flag value ${from}: refers to current or later build stage`);
  }
  const rawDest = ex(i.args[i.args.length - 1]);
  const destIsDir = rawDest.endsWith('/') || rawDest === '.' || rawDest.endsWith('/.') || parents;
  const dest = posix.resolve(st.config.WorkingDir || '/', rawDest);
  const lowers = st.image ? await layerDirs(c.d.snapshots, st.image) : [];
  // --link makes the layer as if onto an empty filesystem: the destination is not
  // resolved through the image's symlinks, nor do its directories' attributes carry over.
  const destLowers = link ? [] : lowers;

  const rawSources = i.args.slice(0, -1);
  const heredocNames = new Set(i.heredocs.map((h) => h.name));
  const entries: CopyEntry[] = [];
  const local: string[] = [];
  const urls: string[] = [];
  const gits: GitRef[] = [];
  for (const raw of rawSources) {
    const hd = /^<<-?(["']?)([A-Za-z0-9_]+)\1$/.exec(raw);
    if (hd && heredocNames.has(hd[2])) {
      const h = i.heredocs.find((x) => x.name === hd[2]);
      const content = h?.expand ? expandHeredoc(h.content, env) : (h?.content ?? '');
      const target = destIsDir || rawSources.length > 1 ? posix.join(dest, hd[2]) : dest;
      entries.push({ dest: target, kind: 'file', mode: 0o644, mtimeMs: Date.now(), data: Buffer.from(content), size: content.length });
      continue;
    }
    const src = ex(raw);
    if (isGitSource(src)) {
      if (kw === 'COPY') throw new BuildStepError('source can\'t be a git ref for COPY');
      const g = parseGitRef(src);
      if (!g) throw new BuildStepError(`invalid git URL: ${src}`);
      gits.push(g);
    } else if (/^https?:\/\//.test(src)) {
      if (kw === 'COPY') throw new BuildStepError('source can\'t be a URL for COPY');
      urls.push(src);
    } else {
      local.push(src);
    }
  }
  if (checksum !== undefined && (urls.length + gits.length !== 1 || local.length)) throw new BuildStepError('checksum can\'t be specified for non-HTTP(S) sources');
  if (urls.length + local.length + gits.length + entries.length > 1 && !destIsDir) {
    throw new BuildStepError(`When using ${kw} with more than one source file, the destination must be a directory and end with a /`);
  }
  const gitOnly = gits.length > 0 && urls.length + local.length + entries.length === 0;
  for (const url of urls) {
    const e = await download(c, url, dest, destIsDir || (await copyPlanFor({ dir: '/', isContext: false }, [], dest, false, kw, destLowers).isDirInImage(dest)), checksum);
    // --unpack=true: a downloaded archive is unpacked into the destination (never by default).
    entries.push(unpack === true && (await isArchiveFile(e.source as string)) ? { ...e, kind: 'archive', dest } : e);
  }

  let release: (() => Promise<void>) | undefined;
  const checkouts: GitCheckout[] = [];
  try {
    // The same context (kept by digest, never changed) gives the same plan: its checksum is remembered with it.
    const memoKey = c.ctxMemo && from === undefined && urls.length + gits.length + entries.length === 0
      ? JSON.stringify([c.req.dockerfile, st.image?.record.id ?? '', kw, local, dest, destIsDir || rawSources.length > 1, unpack ?? null, excludes, parents, link, chown ?? null, chmodRaw ?? null])
      : undefined;
    const remembered = memoKey === undefined ? undefined : c.ctxMemo?.get(memoKey);
    if (remembered !== undefined) {
      const hit = await c.cached(st.image, { ...st.config, Cmd: [...DEFAULT_SHELL, remembered] }, c.withParent(st, st.config));
      if (hit) return c.useCache(st, hit);
    }
    if (local.length) {
      let root: SourceRoot = { dir: c.ctxDir, ignore: c.ignore, isContext: true };
      if (from !== undefined) {
        const r = await c.imageRoot(from);
        release = r.release;
        root = { dir: r.dir, isContext: false };
      }
      const planInput = copyPlanFor(root, local, dest, destIsDir || rawSources.length > 1, kw, destLowers);
      if (unpack !== undefined) planInput.extractArchives = kw === 'ADD' && unpack;
      if (excludes.length) planInput.exclude = ignoreMatcher(excludes.map((x) => posix.normalize(x).replace(/^\/+/, '')));
      planInput.parents = parents;
      entries.push(...(await planCopy(planInput)));
    }
    // A git source is keyed by the commit its ref names now: a cache hit needs no clone.
    const resolved: Array<{ g: GitRef; commit: string; checkout?: GitCheckout }> = [];
    for (const g of gits) {
      let commit = await resolveCommit(g).catch((err: unknown) => {
        throw gitStepError(g, err);
      });
      let checkout: GitCheckout | undefined;
      if (!commit) {
        // Not a ref the remote advertises (an abbreviated commit?): only a fetch tells.
        checkout = await checkoutSource(c, g, keepGitDir);
        checkouts.push(checkout);
        commit = checkout.commit;
      }
      if (checksum !== undefined && !commit.startsWith(checksum)) throw new BuildStepError(`expected checksum to match ${checksum}, got ${commit}`);
      resolved.push({ g, commit, checkout });
    }
    let owner = { uid: 0, gid: 0 };
    if (chown) {
      // A user without a group gets the user's ID as group ID, as Docker's.
      const u = resolveUser(lowers, chown);
      owner = { uid: u.uid, gid: chown.includes(':') ? u.gid : u.uid };
    }
    // A --link step is looked up whatever its parent, so its key holds the owner's IDs, not a name.
    const extra = link ? `${owner.uid}:${owner.gid}:${chown !== undefined}:${chmodRaw ?? ''}` : `${chown ?? ''}:${chmodRaw ?? ''}`;
    const gitKeys = resolved.map((r) => `${r.g.url}#${r.commit}:${r.g.subdir}:${keepGitDir}`);
    const sum = await checksumEntries(entries, [extra, ...gitKeys].join('\0'), (p: string) => c.knownDigest(p));
    const kind = gitOnly ? 'git' : entries.length === 1 ? (entries[0].kind === 'dir' ? 'dir' : 'file') : (local.length === 1 && entries[0]?.kind === 'dir' ? 'dir' : 'multi');
    const nop = `#(nop) ${kw} ${link ? '--link ' : ''}${kind}:${sum} in ${rawDest.startsWith('/') ? rawDest : dest + (destIsDir ? '/' : '')} `;
    if (memoKey !== undefined) c.ctxMemo?.set(memoKey, nop);
    const cc: ContainerConfig = { ...st.config, Cmd: [...DEFAULT_SHELL, nop] };
    const hit = await c.cached(st.image, cc, c.withParent(st, st.config));
    if (hit) return c.useCache(st, hit);
    const config: ContainerConfig = { ...st.config };
    if (st.image) config.Image = st.image.record.id;
    const record = (diffId: string) => recordImage(c.d.images.store, {
      base: st.image, config, containerConfig: cc, author: st.author, history: { created_by: `/bin/sh -c ${nop}` },
    }, [...(st.image?.config.rootfs.diff_ids ?? []), diffId], false);
    const linked = link ? await linkedLayer(c, st.image, cc) : undefined;
    if (linked) {
      c.out(' ---> Using cache\n');
      return c.stepDone(st, await record(linked.diffId), config);
    }
    for (const r of resolved) {
      let co = r.checkout;
      if (!co) {
        co = await checkoutSource(c, r.g, keepGitDir);
        checkouts.push(co);
      }
      if (co.commit !== r.commit) throw new BuildStepError(`${r.g.url}: ${r.g.ref || 'HEAD'} moved from ${r.commit} to ${co.commit} while it was fetched`);
      const files = await planCopy(copyPlanFor({ dir: co.dir, isContext: false }, ['/'], dest, true, kw, destLowers));
      // As BuildKit's: files 0644, or 0755 when executable; directories 0755.
      for (const e of files) if (e.kind === 'dir' || e.kind === 'file') e.mode = e.kind === 'dir' || e.mode & 0o111 ? 0o755 : 0o644;
      entries.push(...files);
    }
    // Context files (and git checkouts) are never changed in place (a rw bind writes to an overlay): the layer may link them.
    const contextFiles = from === undefined ? new Map<string, string>() : undefined;
    const layer = await c.d.images.store.layers.register(
      entriesLayer(entries, { ...owner, chmod, chown: chown !== undefined, lowers: destLowers, contextFiles }), st.image?.record.topLayer || undefined,
      { linkFrom: contextFiles && ((p) => {
        const path = contextFiles.get(p);
        return path === undefined ? undefined : { path, sameContent: true };
      }) },
    );
    c.stepDone(st, await record(layer.diffId), config);
  } finally {
    if (release) await release();
    for (const co of checkouts) await co.cleanup().catch(() => {});
    for (const e of entries) if (e.downloaded && e.source) await rm(e.source, { force: true });
  }
}

/**
 * COPY --link: the layer an earlier build made for the same step, on
 * whatever parent it had (its key does not depend on the layers below). Its
 * tar, kept in the content store, is applied as is on `parent`: the same
 * diff ID, no source read again.
 */
async function linkedLayer(c: StepContext, parent: Image | undefined, cc: ContainerConfig): Promise<LayerInfo | undefined> {
  if (c.req.noCache) return undefined;
  const want = JSON.stringify(cc.Cmd);
  const candidates = c.d.images.store.list()
    .filter((img) => img.record.topLayer && JSON.stringify(img.config.container_config?.Cmd) === want)
    .sort((a, b) => ((b.config.created ?? '') > (a.config.created ?? '') ? 1 : -1));
  const { layers, content } = c.d.images.store;
  for (const img of candidates) {
    const info = await layers.info(img.record.topLayer).catch(() => undefined);
    if (!info?.blob || !(await content.has(info.blob))) continue;
    return layers.register(content.openBlob(info.blob), parent?.record.topLayer || undefined, { blob: info.blob });
  }
  return undefined;
}

/** A git source checked out for ADD, with BuildKit's errors. */
async function checkoutSource(c: StepContext, g: GitRef, keepGitDir: boolean): Promise<GitCheckout> {
  try {
    return await checkoutGit(g, c.d.tmpRoot, { keepGitDir });
  } catch (err) {
    throw gitStepError(g, err);
  }
}

/** ADD <url>: the file downloaded beside the build (mode 0600, mtime from Last-Modified), verified by --checksum. */
async function download(c: StepContext, url: string, dest: string, intoDir: boolean, checksum?: string): Promise<CopyEntry> {
  let res: Response;
  try {
    res = await fetch(url, { signal: c.signal, redirect: 'follow' });
  } catch (err) {
    throw new BuildStepError(`failed to download ${url}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new BuildStepError(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
  await mkdir(c.d.tmpRoot, { recursive: true, mode: 0o700 });
  const file = join(c.d.tmpRoot, `dl-${randomBytes(8).toString('hex')}`);
  const h = createHash('sha256');
  let size = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  body.on('data', (chunk: Buffer) => {
    h.update(chunk);
    size += chunk.length;
  });
  await pipeline(body, createWriteStream(file, { mode: 0o600 }));
  const digest = 'sha256:' + h.digest('hex');
  if (checksum !== undefined && checksum !== digest) {
    await rm(file, { force: true });
    throw new BuildStepError(`digest mismatch ${digest}: ${checksum}`);
  }
  const lastModified = Date.parse(res.headers.get('last-modified') ?? '');
  const name = posix.basename(new URL(url).pathname) || 'index.html';
  return { dest: intoDir ? posix.join(dest, name) : dest, kind: 'file', mode: 0o600, mtimeMs: Number.isNaN(lastModified) ? Date.now() : lastModified, source: file, size, downloaded: true };
}

/** A git failure of ADD, worded for the build output. */
function gitStepError(g: GitRef, err: unknown): Error {
  if (err instanceof GitSubdirError) return new BuildStepError(`ADD failed: subdirectory ${g.subdir} of ${g.url} does not exist`);
  if (err instanceof GitError) return new BuildStepError(`ADD failed: unable to fetch git repository ${g.url}: ${err.message}`);
  return err instanceof Error ? err : new Error(String(err));
}

/** `$VAR` and `${VAR}` in a heredoc that is not quoted; the rest is kept byte for byte. */
function expandHeredoc(content: string, env: Map<string, string>): string {
  return content.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a: string | undefined, b: string | undefined) => {
    if (m === '\\$') return '$';
    return env.get((a ?? b) as string) ?? '';
  });
}
