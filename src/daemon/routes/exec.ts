// /containers/{id}/exec and /exec/* routes.
import type { ApiServer } from '../server.ts';
import type { Engine } from '../engine.ts';
import { intParam } from './query.ts';
import { encodeFrame } from '../../api/stream-frames.ts';
import { decodeBody, EXEC_CREATE, EXEC_START } from './body-shape.ts';
import { pipeStdin } from './containers.ts';
import type { ExecConfig } from '../../containers/exec.ts';

export function execRoutes(api: ApiServer, engine: Engine): void {
  const { execs } = engine;

  api.route('POST', '/containers/:id/exec', async (ctx) => {
    const body = decodeBody<ExecConfig>(await ctx.json(), EXEC_CREATE, 'container.ExecOptions');
    return { status: 201, body: execs.create(ctx.params.id, body) };
  });

  api.route('POST', '/exec/:id/start', async (ctx) => {
    const body = decodeBody<{ Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null }>(await ctx.json(), EXEC_START, 'container.ExecStartOptions');
    const ex = execs.get(ctx.params.id);
    if (body.ConsoleSize) ex.config.ConsoleSize = body.ConsoleSize;
    if (body.Detach) {
      await execs.start(ex.ID);
      return { status: 200 }; // dockerd writes nothing: 200, no body
    }
    // As dockerd, the start request's Tty picks the framing (a TTY exec started
    // with Tty false is multiplexed: docker-py relies on it); without one, the exec's.
    const tty = body.Tty !== undefined ? body.Tty === true : ex.config.Tty === true;
    const hj = await ctx.hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    const send = (fd: 1 | 2, b: Buffer) => {
      if ((fd === 1 && ex.config.AttachStdout === false) || (fd === 2 && ex.config.AttachStderr === false)) return;
      hj.output.write(tty ? b : encodeFrame(fd, b));
    };
    const onOut = (b: Buffer) => send(1, b);
    const onErr = (b: Buffer) => send(2, b);
    ex.output.on('stdout', onOut);
    ex.output.on('stderr', onErr);
    let exited: Promise<number>;
    try {
      ({ exited } = await execs.start(ex.ID));
    } catch (err) {
      // The stream is already upgraded: report like dockerd does, in-band.
      const msg = Buffer.from(`${(err as Error).message}\r\n`);
      hj.output.write(tty ? msg : encodeFrame(1, msg));
      hj.end();
      return;
    }
    if (ex.config.AttachStdin) {
      pipeStdin(hj, ex.config.DetachKeys ?? null, tty, {
        write: (b) => execs.writeStdin(ex.ID, b),
        close: () => execs.closeStdin(ex.ID),
        detach: () => hj.end(),
      });
    }
    // A client that goes away stops waiting (the process runs on, as with
    // dockerd, with its stdin closed); its listeners go with it.
    const gone = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await Promise.race([exited, gone]);
    } finally {
      ex.output.off('stdout', onOut);
      ex.output.off('stderr', onErr);
      if (ctx.signal.aborted && ex.config.AttachStdin) execs.closeStdin(ex.ID);
      hj.end();
    }
  });

  api.route('GET', '/exec/:id/json', (ctx) => ({ body: execs.inspect(ctx.params.id) }));

  api.route('POST', '/exec/:id/resize', (ctx) => {
    execs.resize(ctx.params.id, intParam(ctx.query, 'h') ?? 0, intParam(ctx.query, 'w') ?? 0);
    return { status: 200 };
  });
}
