// The embedded DNS server of a user-defined network. Containers reach it at
// 127.0.0.11 (a DNAT inside their namespace sends it to the network's gateway
// address, where this listens): names of containers and their aliases on the
// asker's networks are answered here, everything else is forwarded to the
// host's resolvers.
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';

/** The addresses `name` has for the container at `clientIp`, or undefined for a name we do not know. */
export type NameLookup = (clientIp: string, name: string) => string[] | undefined;

const NXDOMAIN = 3;
const SERVFAIL = 2;

export function hostResolvers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8').split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((a): a is string => !!a && !a.includes(':'));
  } catch {
    return [];
  }
}

export class DnsServer {
  private socket?: Socket;
  private readonly lookup: NameLookup;
  private readonly upstreams: (clientIp: string) => string[];

  /** `upstreams` gives the resolvers for names we do not know: the asker's --dns, or the host's. */
  constructor(lookup: NameLookup, upstreams: (clientIp: string) => string[]) {
    this.lookup = lookup;
    this.upstreams = upstreams;
  }

  /** Listens on address:port (0 picks one); resolves with the port. */
  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4', reuseAddr: false });
      s.once('error', reject);
      s.on('message', (msg, rinfo) => this.answer(msg, rinfo));
      s.bind(port, address, () => {
        s.off('error', reject);
        s.on('error', () => {});
        this.socket = s;
        resolve(s.address().port);
      });
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  private reply(to: RemoteInfo, packet: Buffer): void {
    this.socket?.send(packet, to.port, to.address);
  }

  private answer(msg: Buffer, from: RemoteInfo): void {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const q = query.questions?.[0];
    if (!q) return;
    const name = q.name.replace(/\.$/, '').toLowerCase();
    const known = this.lookup(from.address, name);
    if (known === undefined) {
      this.forward(msg, from, query);
      return;
    }
    const answers: dnsPacket.Answer[] = q.type === 'A' ? known.map((ip) => ({ type: 'A', name: q.name, ttl: 600, data: ip })) : [];
    this.reply(from, dnsPacket.encode({
      type: 'response', id: query.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [q], answers,
    }));
  }

  private fail(query: dnsPacket.DecodedPacket, from: RemoteInfo, rcode: number): void {
    const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode;
    this.reply(from, dnsPacket.encode({ type: 'response', id: query.id, flags, questions: query.questions }));
  }

  /** Relays the query to the host's resolvers in turn, the first answer going back as it came. */
  private forward(msg: Buffer, from: RemoteInfo, query: dnsPacket.DecodedPacket): void {
    const servers = [...this.upstreams(from.address)];
    if (servers.length === 0) {
      this.fail(query, from, NXDOMAIN);
      return;
    }
    const tryNext = (): void => {
      const server = servers.shift();
      if (!server) {
        this.fail(query, from, SERVFAIL);
        return;
      }
      const s = createSocket('udp4');
      const timer = setTimeout(() => {
        s.close();
        tryNext();
      }, 2000);
      s.once('error', () => {
        clearTimeout(timer);
        s.close();
        tryNext();
      });
      s.once('message', (res) => {
        clearTimeout(timer);
        s.close();
        this.reply(from, res);
      });
      s.send(msg, 53, server);
    };
    tryNext();
  }
}
