// What lets a warm process (src/cli/warm.ts, ADR 0010) run a second command
// as if it were a fresh process: after each command it checks that nothing of
// it is left (no handle, timer, file descriptor or process listener beyond
// those it had before its first command, no terminal read) and makes Node's
// stdio streams anew for the next one. A process that cannot show itself
// clean ends, as every warm process did before.
//
// Node's stdio getters cache their streams in the bootstrap's module scope;
// it offers one way to drop them, resetStdioForTesting, reached through
// internalBinding: warm processes start with --expose-internals (berth.c).
// Node then makes the next command's streams itself, of the kind its fds are.
import { readdirSync, readlinkSync } from 'node:fs';
import { hasStartedDaemon, resetClient } from './context.ts';
import { forgetStdin } from '../compose/load/files.ts';

type Stdio = 'stdin' | 'stdout' | 'stderr';
const STDIO: Stdio[] = ['stdin', 'stdout', 'stderr'];

interface Internals {
  resetStdio: () => void;
  timerLists: Record<string, unknown>;
  immediates: { head: unknown };
}

function internals(): Internals | null {
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {}; // internal/test/binding warns that it is for tests
  try {
    const binding = process.getBuiltinModule('internal/test/binding') as { internalBinding?: (name: string) => Record<string, unknown> } | undefined;
    const timers = process.getBuiltinModule('internal/timers') as { timerListMap?: Record<string, unknown>; immediateQueue?: { head: unknown } } | undefined;
    const reset = binding?.internalBinding?.('process_methods').resetStdioForTesting;
    if (typeof reset !== 'function' || !timers?.timerListMap || !timers.immediateQueue) return null;
    return { resetStdio: reset as () => void, timerLists: timers.timerListMap, immediates: timers.immediateQueue };
  } catch {
    return null; // started without --expose-internals: one command per process
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** The descriptors open in this process, by number, with what each is. */
function openFds(): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try { fds.set(Number(name), readlinkSync(`/proc/self/fd/${name}`)); } catch { /* the directory's own fd, closed by now */ }
  }
  return fds;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Resident {
  private readonly made = new Map<Stdio, NodeJS.ReadStream | NodeJS.WriteStream>();
  private readonly listeners = new Map<string | symbol, Set<Function>>();
  private readonly resources: string[];
  private readonly fds: Map<number, string>;

  /** Null when this Node offers no way to renew its stdio: the process then serves one command. */
  static start(): Resident | null {
    const inner = internals();
    return inner ? new Resident(inner) : null;
  }

  private readonly inner: Internals;

  private constructor(inner: Internals) {
    this.inner = inner;
    // Node opens its signal pipe at the first signal listener and keeps it:
    // opened now, it is part of what a clean process has.
    const noop = (): void => {};
    process.on('SIGWINCH', noop);
    process.off('SIGWINCH', noop);
    // The stdio getters are Node's, wrapped to learn which streams a command made.
    for (const name of STDIO) {
      const own = Object.getOwnPropertyDescriptor(process, name);
      if (!own?.get || !own.configurable) throw new Error(`process.${name} is not a getter`);
      const get = own.get;
      Object.defineProperty(process, name, {
        configurable: true,
        enumerable: own.enumerable,
        get: () => {
          const stream = get.call(process) as NodeJS.ReadStream | NodeJS.WriteStream;
          this.made.set(name, stream);
          return stream;
        },
      });
    }
    for (const event of process.eventNames()) this.listeners.set(event, new Set(process.rawListeners(event)));
    this.resources = process.getActiveResourcesInfo().sort();
    this.fds = openFds();
  }

  /** The process listeners a command added (the stdio's own SIGWINCH ones aside). */
  private addedListeners(): Array<[string | symbol, Function]> {
    const added: Array<[string | symbol, Function]> = [];
    for (const event of process.eventNames()) {
      const before = this.listeners.get(event);
      for (const fn of process.rawListeners(event)) if (!before?.has(fn)) added.push([event, fn]);
    }
    return added;
  }

  /**
   * After a command (its output flushed): closes its stdio streams and says
   * why the process cannot serve another, or null when it can.
   */
  async settle(connFd: number): Promise<string | null> {
    const added = this.addedListeners();
    // A terminal's raw mode and its saved state live in libuv, beyond reach: a command that read a terminal ends its process.
    const stdin = this.made.get('stdin');
    if (stdin?.isTTY) return 'stdin was a terminal';
    // A daemon it started is its child: blocked in accept between commands, this process would leave it a zombie when it dies.
    if (hasStartedDaemon()) return 'started the daemon';
    const foreign = added.filter(([event]) => event !== 'SIGWINCH');
    if (foreign.length) return `listeners left on process: ${foreign.map(([e]) => String(e)).join(', ')}`;
    // Node added a SIGWINCH listener for each terminal stream; they go with the streams.
    for (const [event, fn] of added) process.removeListener(event, fn as (...args: unknown[]) => void);
    this.dropStdio();
    await tick();
    await tick();
    this.inner.resetStdio();
    return this.leftovers(connFd);
  }

  /**
   * Just before a command, its fds in place: Node's own code may have made a
   * stdio stream since the last one (net.Socket's destroy reads
   * process.stderr): it goes, and the command's streams are made of its fds.
   */
  renew(): void {
    this.dropStdio();
    this.inner.resetStdio();
    // The global console caches the streams it first wrote to; setting them
    // to undefined makes it read process.stdout/stderr again.
    const con = console as unknown as { _stdout: unknown; _stderr: unknown };
    con._stdout = undefined;
    con._stderr = undefined;
  }

  private dropStdio(): void {
    for (const [name, stream] of this.made) {
      // Node's stdin pauses itself through a closure over the stream it caches: gone with the reset.
      stream.removeAllListeners('pause');
      // Node never closes a stdio stream (its _destroy is a no-op that keeps
      // the fd): the prototype's closes the handle, and libuv leaves fds 0-2 open.
      delete (stream as { _destroy?: unknown })._destroy;
      stream.destroy();
      this.made.delete(name);
    }
  }

  /** What the command left running: handles, timers, immediates, descriptors. */
  private leftovers(connFd: number): string | null {
    const now = process.getActiveResourcesInfo().sort();
    const pipe = now.indexOf('PipeWrap'); // the launcher's connection
    if (pipe >= 0) now.splice(pipe, 1);
    const extra = [...now];
    for (const r of this.resources) {
      const i = extra.indexOf(r);
      if (i >= 0) extra.splice(i, 1);
    }
    if (extra.length) return `resources left: ${extra.join(', ')}`;
    // A list is a ring of timers headed by itself; cleared unref'd timers leave theirs, empty, until it is due.
    const live = Object.values(this.inner.timerLists).filter((list) => (list as { _idleNext?: unknown })._idleNext !== list);
    if (live.length) return 'timers left';
    if (this.inner.immediates.head) return 'immediates left';
    for (const [fd, what] of openFds()) {
      if (fd <= 2 || fd === connFd || this.fds.get(fd) === what) continue; // 0-2: the caller's, until released
      // libuv's own appear as it first needs them: an io_uring ring, an
      // eventfd (a command cannot make one), and /dev/null, held for accept's EMFILE (harmless either way).
      if (what.startsWith('anon_inode:') || what === '/dev/null') continue;
      return `descriptor left: ${fd} → ${what}`;
    }
    return null;
  }

  /** The per-command state of modules, as a fresh process has it. */
  reset(): void {
    process.exitCode = undefined;
    resetClient();
    forgetStdin();
  }
}
