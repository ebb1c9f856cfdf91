// Can a host run the install script? It needs its apt mirror and npm's
// registry. A TCP connect is not enough: behind a proxy that re-signs HTTPS,
// the connect succeeds and npm then fails on the certificate unless the
// host's admin added the proxy's CA. So HTTPS is checked as the host's own
// tools would see it: a verified handshake and a request, made by apt's
// apt-helper (apt is on every Debian host; curl and openssl need not be),
// which trusts the host's store (/etc/ssl/certs), the store Debian's npm and
// install.sh's npm use too.

/** The npm registry install.sh's `npm ci` fetches from. */
export const NPM_REGISTRY = 'registry.npmjs.org';

export type ReachState = 'ok' | 'unreachable' | 'untrusted';

export interface Reach {
  /** The host name checked (the apt mirror's, or npm's registry). */
  host: string;
  state: ReachState;
  /** Why not, in the host's tools' words (apt's, bash's). */
  why: string;
}

/**
 * Prints `@reach apt|npm HOST ok|unreachable|untrusted WHY`. An https URL:
 * apt-helper's download-file, no retry, 5 s per connect; apt's first error
 * line is the reason, a certificate failure told apart. The apt mirror over
 * plain http (Debian's default) cannot be re-signed: a TCP connect through
 * bash's /dev/tcp, as before.
 */
export const REACH_SCRIPT = `
https_reach() {
  d=$(mktemp -d) || return 1
  out=$(timeout 30 /usr/lib/apt/apt-helper -o Acquire::Retries=0 -o Acquire::https::Timeout=5 download-file "https://$2/" "$d/r" 2>&1)
  rc=$?
  rm -rf "$d"
  if [ $rc = 0 ]; then echo "@reach $1 $2 ok"; return; fi
  # "E: Failed to fetch URL  REASON  Could not handshake: … [IP: …]": the reason's first part.
  why=$(printf '%s\\n' "$out" | sed -n 's/^E: Failed to fetch [^ ]*  *//p' | head -n 1 | sed 's/  .*//; s/ *\\[IP: [^]]*\\]$//')
  [ $rc = 124 ] && why="no answer in 30 s"
  case "$why" in
    *[Cc]ertificate*) echo "@reach $1 $2 untrusted $why" ;;
    *) echo "@reach $1 $2 unreachable \${why:-apt-helper exited $rc}" ;;
  esac
}
tcp_reach() {
  out=$(timeout 5 bash -c "exec 3<>/dev/tcp/$2/$3" 2>&1)
  rc=$?
  if [ $rc = 0 ]; then echo "@reach $1 $2 ok"; return; fi
  why=$(printf '%s\\n' "$out" | head -n 1 | sed 's/^bash: [^:]*: //; s/^[^:]*: //')
  [ $rc = 124 ] && why="no answer on port $3 in 5 s"
  echo "@reach $1 $2 unreachable \${why:-cannot connect to port $3}"
}
m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -n 's#^deb  *\\(\\[[^]]*\\]  *\\)\\{0,1\\}\\(https\\{0,1\\}\\)://\\([^/ ]*\\).*#\\2 \\3#p' | head -n 1)
[ -n "$m" ] || m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's#^URIs: *\\(https\\{0,1\\}\\)://\\([^/ ]*\\).*#\\1 \\2#p' | head -n 1)
if [ -n "$m" ]; then
  set -- $m
  if [ "$1" = https ]; then https_reach apt "$2"; else tcp_reach apt "$2" 80; fi
else
  echo "@reach apt - unreachable no http(s) apt source"
fi
https_reach npm ${NPM_REGISTRY}
`;

/** One `@reach` line's words after the tag, or undefined when they are not one. */
export function parseReach(words: string[]): { what: 'apt' | 'npm'; reach: Reach } | undefined {
  const [what, host, state, ...why] = words;
  if ((what !== 'apt' && what !== 'npm') || !host || (state !== 'ok' && state !== 'unreachable' && state !== 'untrusted')) return undefined;
  return { what, reach: { host: host === '-' ? 'its apt mirror' : host, state, why: why.join(' ') } };
}

/**
 * Why the script cannot run on `host`, one phrase, or '' when it can:
 * "H does not reach A (why) or B (why), and does not trust B's certificate
 * (why); …". `undefined` stands for not checked.
 */
export function unreachedPhrase(host: string, checks: Array<Reach | undefined>): string {
  const all = checks.map((c, i) => c ?? { host: i === 0 ? 'its apt mirror' : NPM_REGISTRY, state: 'unreachable' as const, why: 'not checked' });
  const unreached = all.filter((c) => c.state === 'unreachable').map((c) => `${c.host} (${c.why})`);
  const untrusted = all.filter((c) => c.state === 'untrusted').map((c) => `${c.host} (${c.why})`);
  const parts = [
    ...(unreached.length ? [`does not reach ${unreached.join(' or ')}`] : []),
    ...(untrusted.length ? [`does not trust the certificate of ${untrusted.join(' or ')}; behind a proxy that re-signs HTTPS, the host needs its CA (in /usr/local/share/ca-certificates, then update-ca-certificates)`] : []),
  ];
  return parts.length ? `${host} ${parts.join(', and ')}` : '';
}
