// The daemon's packet filter and NAT rules. Every rule lives in chains that
// belong to this daemon alone (their names carry its tag), so several daemons
// on one host never touch each other's rules. The chains are rewritten whole,
// in one iptables-restore transaction, from the daemon's state: a daemon
// restarted after kill -9 rebuilds them exactly once, with nothing leaked or
// duplicated. Only the jumps from the built-in chains are added one by one,
// each after a check that it is not there yet.
import { runCommand } from './command.ts';

export interface BridgeRuleSet {
  bridge: string;
  subnet: string;
  internal: boolean;
  /** Inter-container communication on this bridge (`--icc`). */
  icc: boolean;
  /** An overlay's bridge: connections DNATed to its endpoints (the routing mesh) are let in. */
  acceptDnat?: boolean;
}

export interface PortRule {
  bridge: string;
  proto: 'tcp' | 'udp';
  /** '' or '0.0.0.0' for every host address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** A legacy `--link` under `--icc=false`: the linking container may reach the target's exposed port. */
export interface LinkRule {
  bridge: string;
  /** The container that has the link. */
  from: string;
  /** The linked container. */
  to: string;
  proto: 'tcp' | 'udp';
  port: number;
}

/** Connections matching `match` spread over `targets` (ip or ip:port) in turn: a swarm VIP or a routing-mesh port. */
export interface BalancerRule {
  match: string[];
  targets: string[];
}

/** Balanced connections leaving on an overlay's bridge take this node's own overlay address as their source. */
export interface SnatRule {
  bridge: string;
  subnet: string;
  source: string;
}

export interface FirewallState {
  bridges: BridgeRuleSet[];
  ports: PortRule[];
  links?: LinkRule[];
  balancers?: BalancerRule[];
  snat?: SnatRule[];
}

/** Interface names of every berth bridge (of any daemon): traffic between two is dropped. */
export const BRIDGE_PATTERNS = ['berth+', 'br-+'];

interface Jump { table: 'filter' | 'nat'; chain: string; rule: string[] }

export class Firewall {
  readonly forwardChain: string;
  readonly dnatChain: string;
  readonly postroutingChain: string;
  private readonly state: () => FirewallState;
  private running?: Promise<void>;
  private again = false;

  constructor(tag: string, state: () => FirewallState) {
    this.forwardChain = `${tag}-FORWARD`;
    this.dnatChain = `${tag}-DNAT`;
    this.postroutingChain = `${tag}-POSTROUTING`;
    this.state = state;
  }

  private jumps(): Jump[] {
    return [
      { table: 'filter', chain: 'FORWARD', rule: ['-j', this.forwardChain] },
      { table: 'nat', chain: 'PREROUTING', rule: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', this.dnatChain] },
      // From the host itself, 127.0.0.1 included (the bridge has route_localnet).
      { table: 'nat', chain: 'OUTPUT', rule: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', this.dnatChain] },
      { table: 'nat', chain: 'POSTROUTING', rule: ['-j', this.postroutingChain] },
    ];
  }

  /** Creates the chains (rewritten from the current state) and the jumps to them. */
  async init(): Promise<void> {
    await this.sync();
    for (const j of this.jumps()) {
      const exists = await runCommand('iptables', ['-w', '-t', j.table, '-C', j.chain, ...j.rule]).then(() => true, () => false);
      if (!exists) await runCommand('iptables', ['-w', '-t', j.table, j.chain === 'POSTROUTING' ? '-A' : '-I', j.chain, ...(j.chain === 'POSTROUTING' ? [] : ['1']), ...j.rule]);
    }
  }

  /**
   * Rewrites the chains from the state. Calls during a rewrite are folded into
   * one more rewrite after it; the promise settles once the rules include
   * everything the state held at the time of the call.
   */
  sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running.then(() => this.running ?? Promise.resolve());
    }
    const run = (async () => {
      try {
        do {
          this.again = false;
          await runCommand('iptables-restore', ['-w', '--noflush'], this.render(this.state()));
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    this.running = run;
    return run;
  }

  render(s: FirewallState): string {
    const f: string[] = ['*filter', `:${this.forwardChain} - [0:0]`];
    const n: string[] = ['*nat', `:${this.dnatChain} - [0:0]`, `:${this.postroutingChain} - [0:0]`];
    const F = (...r: string[]) => f.push(['-A', this.forwardChain, ...r].join(' '));
    const N = (chain: string, ...r: string[]) => n.push(['-A', chain, ...r].join(' '));
    // Before the bridges' masquerades: every node's overlay bridge has the same gateway address, so a
    // reply must be addressed to this node's own one to come back here.
    for (const s0 of s.snat ?? []) N(this.postroutingChain, '-d', s0.subnet, '-o', s0.bridge, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'SNAT', '--to-source', s0.source);
    for (const b of s.bridges) {
      const x = b.bridge;
      F('-o', x, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');
      for (const p of s.ports.filter((q) => q.bridge === x)) {
        F('-d', `${p.containerIp}/32`, '!', '-i', x, '-o', x, '-p', p.proto, '-m', p.proto, '--dport', String(p.containerPort), '-j', 'ACCEPT');
      }
      // As dockerd's links: both directions of the exposed port, the exceptions to icc's DROP.
      for (const l of b.icc ? [] : (s.links ?? []).filter((q) => q.bridge === x)) {
        F('-s', `${l.from}/32`, '-d', `${l.to}/32`, '-i', x, '-o', x, '-p', l.proto, '-m', l.proto, '--dport', String(l.port), '-j', 'ACCEPT');
        F('-s', `${l.to}/32`, '-d', `${l.from}/32`, '-i', x, '-o', x, '-p', l.proto, '-m', l.proto, '--sport', String(l.port), '-j', 'ACCEPT');
      }
      F('-i', x, '-o', x, '-j', b.icc ? 'ACCEPT' : 'DROP');
      for (const other of BRIDGE_PATTERNS) F('-i', x, '-o', other, '-j', 'DROP');
      if (b.internal) {
        F('-i', x, '-j', 'DROP');
      } else {
        F('-i', x, '-j', 'ACCEPT');
        N(this.postroutingChain, '-s', b.subnet, '!', '-o', x, '-j', 'MASQUERADE');
      }
      if (b.acceptDnat) F('-o', x, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT');
      F('-o', x, '-j', 'DROP');
      // Published ports reached from the host through 127.0.0.1: the reply must come back to a real address.
      N(this.postroutingChain, '-s', '127.0.0.0/8', '-o', x, '-j', 'MASQUERADE');
      // A container reaching a published port of its own bridge (hairpin): the reply must come back through the host.
      N(this.postroutingChain, '-s', b.subnet, '-o', x, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE');
    }
    for (const p of s.ports) {
      const dst = p.hostIp && p.hostIp !== '0.0.0.0' ? ['-d', `${p.hostIp}/32`] : [];
      N(this.dnatChain, ...dst, '-p', p.proto, '-m', p.proto, '--dport', String(p.hostPort), '-j', 'DNAT', '--to-destination', `${p.containerIp}:${p.containerPort}`);
    }
    // Round robin over the targets: the nth rule takes every (n-i)th new connection that reaches it.
    for (const b of s.balancers ?? []) {
      b.targets.forEach((t, i) => {
        const left = b.targets.length - i;
        N(this.dnatChain, ...b.match, ...(left > 1 ? ['-m', 'statistic', '--mode', 'nth', '--every', String(left), '--packet', '0'] : []), '-j', 'DNAT', '--to-destination', t);
      });
    }
    return [...f, 'COMMIT', ...n, 'COMMIT', ''].join('\n');
  }

  /** Removes the jumps and the chains (a daemon that stops with nothing running). */
  async teardown(): Promise<void> {
    for (const j of this.jumps()) {
      while (await runCommand('iptables', ['-w', '-t', j.table, '-D', j.chain, ...j.rule]).then(() => true, () => false)) { /* every copy */ }
    }
    for (const [table, chain] of [['filter', this.forwardChain], ['nat', this.dnatChain], ['nat', this.postroutingChain]]) {
      await runCommand('iptables', ['-w', '-t', table, '-F', chain]).catch(() => {});
      await runCommand('iptables', ['-w', '-t', table, '-X', chain]).catch(() => {});
    }
  }
}
