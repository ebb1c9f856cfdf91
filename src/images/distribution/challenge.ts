// The parts of registry authentication that both sides of the protocol
// need: berth's registry client (pull) and berth registry's pull-through
// proxy. No dependencies, so the registry can use it without the engine.

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (one challenge; the first usable one wins). */
export function parseChallenges(header: string | null): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  const re = /([A-Za-z]+)\s+((?:[A-Za-z0-9_-]+=(?:"(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*)*)/g;
  for (let m = re.exec(header); m; m = re.exec(header)) {
    const scheme = m[1].toLowerCase();
    if (scheme !== 'basic' && scheme !== 'bearer') continue;
    const params: Record<string, string> = {};
    const pre = /([A-Za-z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
    for (let p = pre.exec(m[2]); p; p = pre.exec(m[2])) {
      params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    }
    out.push({ scheme, params });
  }
  return out;
}

/** `Authorization: Basic …` for a username (and password), or undefined without one. */
export function basicHeader(c: { username?: string; password?: string }): string | undefined {
  if (c.username === undefined) return undefined;
  return 'Basic ' + Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64');
}
