// undici, imported at the first registry request: it is half the daemon's
// bundle (1.1 MB of source) and loads http2, worker_threads, web streams and
// Node's own fetch with it, which an idle daemon (or one that never pulls)
// would otherwise keep resident.
type Undici = typeof import('undici');

let loading: Promise<Undici> | undefined;

export function loadUndici(): Promise<Undici> {
  return (loading ??= import('undici').then(undiciExports, (err: unknown) => {
    loading = undefined;
    throw err;
  }));
}

/**
 * The module's exports. The bundle has undici (CommonJS) in a chunk of its own
 * once nothing imports it statically, and that chunk exports it as its
 * default; from the sources, Node's import of CommonJS gives the names too.
 */
function undiciExports(m: Undici & { default?: Undici }): Undici {
  return m.default ?? m;
}
