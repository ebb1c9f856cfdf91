// What bench/swarm-idle.ts's capture (BENCH_CAPTURE=1) found on a host's
// eth0: tcpdump's text of a pcap (headers only), summed per TCP connection,
// so that the idle etcd traffic can be told apart by what carries it:
// long-lived connections (raft streams, kept-alive pipelines) against
// connections opened and closed in the window (each a full TLS handshake).
import { spawnSync } from 'node:child_process';

interface Conn {
  /** The side that listens (an etcd port), and the side that dialled. */
  server: string;
  client: string;
  /** Frame bytes (Ethernet headers included) and packets, server→client and client→server. */
  down: number;
  up: number;
  packets: number;
  /** TCP payload bytes (TLS records), both ways. */
  payload: number;
  opened: boolean;
  closed: boolean;
  first: number;
  last: number;
  /** Each packet's TCP payload, + to the server, - from it (the first 40). */
  seq: number[];
}

/** Connections of a capture file, with `ports` the listening (etcd) ports. */
export function connections(file: string, ports: number[]): Conn[] {
  const r = spawnSync('tcpdump', ['-r', file, '-nn', '-tt', '-e'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const conns = new Map<string, Conn>();
  for (const line of r.stdout.split('\n')) {
    // 1700000000.123456 aa > bb, ethertype IPv4 (0x0800), length 66: 10.0.0.2.2380 > 10.0.0.3.45678: Flags [P.], ..., length 0
    const m = /^(\d+\.\d+) .*?, length (\d+): (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\].*?length (\d+)/.exec(line);
    if (!m) continue;
    const [, ts, frame, sa, sp, da, dp, flags, payload] = m;
    const toServer = ports.includes(Number(dp));
    const server = toServer ? `${da}:${dp}` : `${sa}:${sp}`;
    const client = toServer ? `${sa}:${sp}` : `${da}:${dp}`;
    const key = `${client}>${server}`;
    let c = conns.get(key);
    if (!c) {
      c = { server, client, down: 0, up: 0, packets: 0, payload: 0, opened: false, closed: false, first: Number(ts), last: 0, seq: [] };
      conns.set(key, c);
    }
    if (toServer) c.up += Number(frame);
    else c.down += Number(frame);
    c.packets++;
    c.payload += Number(payload);
    if (flags === 'S') c.opened = true;
    if (flags.includes('F') || flags.includes('R')) c.closed = true;
    c.last = Number(ts);
    if (c.seq.length < 40) c.seq.push(toServer ? Number(payload) : -Number(payload));
  }
  return [...conns.values()];
}

/** A summary per kind of connection, for the bench's output. */
export function describe(conns: Conn[], seconds: number, names: Map<string, string>): string[] {
  const who = (ep: string) => names.get(ep.slice(0, ep.lastIndexOf(':'))) ?? ep;
  const port = (ep: string) => ep.slice(ep.lastIndexOf(':') + 1);
  const rate = (b: number) => (b / seconds / 1024).toFixed(3);
  const out: string[] = [];
  const short = conns.filter((c) => c.opened);
  const long = conns.filter((c) => !c.opened);
  for (const c of long.sort((a, b) => b.up + b.down - a.up - a.down)) {
    out.push(`    kept  ${who(c.client)} → ${who(c.server)}:${port(c.server)}  ${rate(c.up)}↑ ${rate(c.down)}↓ KiB/s, ${(c.packets / seconds).toFixed(1)} packets/s, payload ${rate(c.payload)} KiB/s${c.closed ? ', closed' : ''}`);
  }
  const groups = new Map<string, Conn[]>();
  for (const c of short) {
    const k = `${who(c.client)} → ${who(c.server)}:${port(c.server)}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  for (const [k, cs] of groups) {
    const bytes = cs.map((c) => c.up + c.down).sort((a, b) => a - b);
    const total = bytes.reduce((a, b) => a + b, 0);
    const pk = cs.reduce((a, c) => a + c.packets, 0) / cs.length;
    const ms = cs.map((c) => (c.last - c.first) * 1000).sort((a, b) => a - b);
    out.push(`    new   ${k}  ${cs.length} opened (${cs.filter((c) => c.closed).length} closed), ${rate(total)} KiB/s; per connection: median ${bytes[bytes.length >> 1]} B (${bytes[0]}–${bytes[bytes.length - 1]}), ${pk.toFixed(0)} packets, lasting median ${ms[ms.length >> 1].toFixed(0)} ms`);
    out.push(`          payload per packet (+ to the listener, - back): ${cs[0].seq.join(' ')}`);
  }
  return out;
}
