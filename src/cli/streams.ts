// Client side of attach/exec/logs streams: demultiplexing Docker's framed
// stdout/stderr, raw terminal mode, and terminal resizes.
import { spawnSync } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { FrameDemuxer } from '../api/stream-frames.ts';

/** Copies a stream to stdout/stderr, demultiplexing unless it is a raw (tty) stream. */
export function copyOutput(src: Readable, raw: boolean, stdout: Writable = process.stdout, stderr: Writable = process.stderr): Promise<void> {
  return new Promise((resolve) => {
    // A full pipe pauses the source, so a fast daemon never piles output up here.
    let waiting = 0;
    const write = (to: Writable, b: Buffer): void => {
      if (to.write(b)) return;
      waiting++;
      src.pause();
      to.once('drain', () => {
        if (--waiting === 0) src.resume();
      });
    };
    if (raw) {
      src.on('data', (c: Buffer) => write(stdout, c));
    } else {
      // Consecutive frames of one stream are written at once: log lines are ~100 bytes each.
      const demux = new FrameDemuxer((stream, bytes) => write(stream === 2 ? stderr : stdout, bytes));
      src.on('data', (c: Buffer) => demux.push(c));
    }
    src.on('end', resolve);
    src.on('close', resolve);
    src.on('error', () => resolve());
    src.resume(); // a hijacked socket is handed over paused
  });
}

/** Puts the local terminal in raw mode while `fn` runs (for -it). */
export async function withRawTerminal<T>(enabled: boolean, fn: () => Promise<T>): Promise<T> {
  const tty = enabled && process.stdin.isTTY;
  if (tty) {
    process.stdin.setRawMode(true);
    // libuv's raw mode keeps output processing (ONLCR), so the \r\n a
    // container's pty sends would reach the screen as \r\r\n; the docker
    // CLI's raw mode clears OPOST. setRawMode(false) restores the original.
    spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
  }
  try {
    return await fn();
  } finally {
    if (tty) process.stdin.setRawMode(false);
  }
}

/** `ctrl-p,ctrl-q`-style detach keys as bytes (the default when unset or invalid, as the docker CLI does). */
export function detachKeyBytes(spec: string | undefined): number[] {
  const keys: number[] = [];
  for (const k of (spec || 'ctrl-p,ctrl-q').split(',')) {
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(k);
    if (m) keys.push(m[1] === '@' ? 0 : m[1].charCodeAt(0) - (m[1] >= 'a' ? 96 : 64));
    else if (k.length === 1) keys.push(k.charCodeAt(0));
    else return [16, 17];
  }
  return keys;
}

/**
 * Sends stdin into a hijacked socket; half-closes it at EOF as the docker CLI
 * does. With `detachKeys` (a tty) it watches for the sequence — the daemon
 * acts on it — so the caller can tell a detach from an exit.
 */
export function pumpStdin(socket: Socket, detachKeys?: number[]): { detached: () => boolean } {
  let matched = 0;
  let detached = false;
  process.stdin.on('data', (c: Buffer) => {
    if (detached) return;
    if (detachKeys?.length) {
      for (const b of c) {
        matched = b === detachKeys[matched] ? matched + 1 : b === detachKeys[0] ? 1 : 0;
        if (matched === detachKeys.length) detached = true;
      }
    }
    socket.write(c);
    if (detached) {
      // The daemon ends its side on the sequence; ending ours lets the stream close.
      process.stdin.pause();
      socket.end();
    }
  });
  process.stdin.on('end', () => socket.end());
  process.stdin.resume();
  return { detached: () => detached };
}

export function terminalSize(): [number, number] | undefined {
  if (!process.stdout.isTTY) return undefined;
  return [process.stdout.rows, process.stdout.columns];
}

/** Calls `resize` now and whenever the local terminal changes size. */
export function followResize(resize: (rows: number, cols: number) => Promise<unknown>): () => void {
  if (!process.stdout.isTTY) return () => {};
  const send = () => {
    const s = terminalSize();
    if (s) resize(s[0], s[1]).catch(() => {});
  };
  send();
  process.stdout.on('resize', send);
  return () => process.stdout.off('resize', send);
}
