// /containers/{id}/archive: stat (HEAD), tar out (GET), tar in (PUT) — what
// `docker cp` and the SDKs' get_archive/put_archive use.
import type { ApiServer, Context } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError } from '../../errors.ts';
import { encodePathStat } from '../../containers/archive.ts';
import { boolParam } from './query.ts';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

/** dockerd's httputils.ArchiveFormValues, its wording (missing space included) kept. */
function pathParam(ctx: Context): string {
  const path = ctx.query.get('path') ?? '';
  if (path === '') throw new InvalidArgumentError('bad parameter: pathcannot be empty');
  // No file name holds a NUL: the system call would refuse it (Go's "invalid argument").
  if (path.includes('\0')) throw new InvalidArgumentError(`lstat ${JSON.stringify(path)}: invalid argument`);
  return path;
}

export function archiveRoutes(api: ApiServer, engine: Engine): void {
  api.route('HEAD', '/containers/:id/archive', async (ctx) => {
    const stat = await engine.archive.stat(ctx.params.id, pathParam(ctx));
    return { status: 200, headers: { [STAT_HEADER]: encodePathStat(stat) } };
  });

  api.route('GET', '/containers/:id/archive', async (ctx) => {
    // A client that goes away aborts ctx.signal: the walk stops and the rootfs is released.
    await engine.archive.archive(ctx.params.id, pathParam(ctx), ctx.signal, async (stat, tar) => {
      const out = ctx.stream(200, 'application/x-tar', { [STAT_HEADER]: encodePathStat(stat) });
      try {
        // Each slab comes back to the tar writer once the socket has taken it.
        await tar((bytes, done) => { out.write(bytes, done); });
      } catch (err) {
        if (ctx.signal.aborted) return;
        throw err; // the server cuts the response: a truncated tar must not look complete
      }
      out.end();
    });
  });

  api.route('PUT', '/containers/:id/archive', async (ctx) => {
    await engine.archive.extract(ctx.params.id, pathParam(ctx), ctx.bodyStream(), {
      noOverwriteDirNonDir: boolParam(ctx.query, 'noOverwriteDirNonDir'),
      copyUIDGID: boolParam(ctx.query, 'copyUIDGID'),
    });
    return { status: 200 };
  });
}
