// Polling for a state the daemon reaches on its own (a restart, a healthcheck).

/** Calls `fn` every `everyMs` until it returns something other than undefined; throws after `ms`. */
export async function waitFor<T>(what: string, fn: () => T | undefined, ms = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
