// Where a registry request goes: the distribution spec's paths matched to a
// route before anything else looks at them, and the raw-path checks that
// refuse dot segments.

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'token' }
  | { kind: 'search' }
  | { kind: 'ping' }
  | { kind: 'manifest'; name: string; ref: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

/**
 * Matches a path to a route. Repository names contain slashes, so each
 * pattern anchors on its fixed suffix; the greedy name group takes the last
 * occurrence, which is right because the suffix segments are never valid
 * digests/tags containing "/".
 */
export function matchRoute(path: string): Route | undefined {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  if (path === '/auth/token') return { kind: 'token' };
  if (path === '/v1/search') return { kind: 'search' };
  if (path === '/v1/_ping') return { kind: 'ping' };
  if (!path.startsWith('/v2/')) return undefined;
  let m: RegExpExecArray | null;
  if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) return { kind: 'manifest', name: m[1], ref: m[2] };
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path))) return { kind: 'uploads', name: m[1] };
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) return { kind: 'upload', name: m[1], id: m[2] };
  if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path))) return { kind: 'blob', name: m[1], digest: m[2] };
  if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(path))) return { kind: 'tags', name: m[1] };
  if ((m = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(path))) return { kind: 'referrers', name: m[1], digest: m[2] };
  return undefined;
}

/** True when a raw request path has a "." or ".." segment (plain or percent-encoded) or a backslash. */
export function hasDotSegment(rawPath: string): boolean {
  if (rawPath.includes('\\')) return true;
  return rawPath.split('/').some((seg) => /^(?:\.|%2e){1,2}$/i.test(seg));
}

export function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
