// Whether a daemon serves the Engine API on a unix socket: the CLI asks before
// starting the default daemon, a daemon before taking over a socket path.
import { connect } from 'node:net';

/**
 * An HTTP reply to `GET /_ping`, not merely an accepted connect: a daemon
 * killed a moment ago keeps taking connections into its listening socket's
 * backlog until its last thread is gone (its pid already a zombie), then
 * resets them. A connection that gets no reply within `timeoutMs` counts as
 * answering: a slow daemon is still a daemon, and its socket is not ours.
 */
export function daemonAnswers(path: string, timeoutMs = 5_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    let timer: NodeJS.Timeout | undefined;
    const end = (answers: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(answers);
    };
    s.once('connect', () => {
      timer = setTimeout(() => end(true), timeoutMs);
      s.end('GET /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: close\r\n\r\n');
    });
    s.once('data', (b: Buffer) => end(b.subarray(0, 5).toString('latin1') === 'HTTP/'));
    s.once('error', () => end(false));
    s.once('close', () => end(false));
  });
}
