// How the daemon reaches each registry host, as dockerd decides it:
// `registry-mirrors` are tried first for docker.io; `insecure-registries`
// (host[:port] or CIDR) and loopback hosts may use plain HTTP or unverified
// TLS; a `certs.d/<host[:port]>/` directory adds a CA (`*.crt`) and a client
// certificate (`*.cert` + `*.key`) for that host. berth reads
// /etc/berth/certs.d and, like dockerd, /etc/docker/certs.d.
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import { DEFAULT_DOMAIN } from '../../api/reference.ts';
import { hostOfAddress, isLoopbackAddress } from '../../api/address.ts';
import { DEFAULT_CERTS_DIRS, readCertsD, tlsOptions } from '../../files/certs-d.ts';
import { loadUndici } from './undici.ts';


/** A registry silent this long (no headers, or no body bytes) is given up on; a body download then resumes. */
const SILENCE_TIMEOUT_MS = 30_000;

/** Where `docker.io` names are pulled from. */
const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';

export interface RegistryHostsConfig {
  insecureRegistries?: string[];
  registryMirrors?: string[];
  certsDirs?: string[];
}

/** One base URL to talk to, with the TLS settings for it. */
export interface Endpoint {
  base: string;
  /** Its HTTP agent, made (and undici loaded) at the first request. */
  dispatcher(): Promise<Dispatcher>;
  /** A mirror: failures fall through to the next endpoint. */
  mirror: boolean;
  /** TLS without verification, or plain HTTP after TLS failed (insecure registries). */
  insecure: boolean;
}

export const isLoopbackRegistry = isLoopbackAddress;

/** `a.b.c.d/n` contains an IPv4 address. */
function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (isIP(ip) !== 4 || isIP(net) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (s: string) => s.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(net) & mask);
}

/** `192.0.2.7/24` → `192.0.2.0/24`, as dockerd lists insecure CIDRs. */
function networkOf(cidr: string): string {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (isIP(ip) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return cidr;
  const n = ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const net = (n & (bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0)) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${bits}`;
}

export class RegistryHosts {
  private readonly insecure: string[];
  private readonly mirrors: string[];
  private readonly certsDirs: string[];
  private readonly dispatchers = new Map<string, Promise<Dispatcher>>();

  constructor(c: RegistryHostsConfig = {}) {
    this.insecure = c.insecureRegistries ?? [];
    this.mirrors = (c.registryMirrors ?? []).map((m) => m.replace(/\/+$/, ''));
    this.certsDirs = c.certsDirs ?? DEFAULT_CERTS_DIRS;
  }

  /** `/info`'s RegistryConfig, as dockerd reports it. */
  registryConfig(): Record<string, unknown> {
    const cidrs = ['127.0.0.0/8', ...this.insecure.filter((e) => e.includes('/')).map(networkOf)];
    const indexConfigs: Record<string, unknown> = {
      'docker.io': { Name: 'docker.io', Mirrors: this.mirrors.map((m) => m + '/'), Secure: true, Official: true },
    };
    for (const h of this.insecure.filter((e) => !e.includes('/'))) indexConfigs[h] = { Name: h, Mirrors: [], Secure: false, Official: false };
    return {
      AllowNondistributableArtifactsCIDRs: null, AllowNondistributableArtifactsHostnames: null,
      InsecureRegistryCIDRs: cidrs, IndexConfigs: indexConfigs, Mirrors: this.mirrors.map((m) => m + '/'),
    };
  }

  isInsecure(domain: string): boolean {
    if (isLoopbackRegistry(domain)) return true;
    const host = hostOfAddress(domain);
    return this.insecure.some((e) => e === domain || e === host || (e.includes('/') && inCidr(host, e)));
  }

  /** Endpoints to try for a registry domain, in order. */
  endpoints(domain: string): Endpoint[] {
    if (domain === DEFAULT_DOMAIN) {
      const mirrors = this.mirrors.map((m) => {
        const u = new URL(m);
        return { base: `${u.protocol}//${u.host}`, dispatcher: () => this.dispatcher(u.host, this.isInsecure(u.host)), mirror: true, insecure: this.isInsecure(u.host) };
      });
      return [...mirrors, { base: `https://${DOCKER_HUB_ENDPOINT}`, dispatcher: () => this.dispatcher(DOCKER_HUB_ENDPOINT, false), mirror: false, insecure: false }];
    }
    const insecure = this.isInsecure(domain);
    // Loopback registries are plain HTTP first (as dockerd's local default); other insecure ones try TLS first.
    if (isLoopbackRegistry(domain)) {
      return [{ base: `http://${domain}`, dispatcher: () => this.dispatcher(domain, true), mirror: false, insecure: true }];
    }
    const https: Endpoint = { base: `https://${domain}`, dispatcher: () => this.dispatcher(domain, insecure), mirror: false, insecure };
    if (!insecure) return [https];
    return [https, { base: `http://${domain}`, dispatcher: () => this.dispatcher(domain, true), mirror: false, insecure: true }];
  }

  /** An HTTP agent with the TLS material of certs.d/<host[:port]>/ (all dirs that have one). */
  private dispatcher(host: string, insecure: boolean): Promise<Dispatcher> {
    const key = `${host}|${insecure}`;
    let agent = this.dispatchers.get(key);
    if (!agent) {
      const connect = { rejectUnauthorized: !insecure, ...tlsOptions(readCertsD(this.certsDirs, host)) };
      agent = loadUndici().then(({ Agent }) => new Agent({ connect, headersTimeout: SILENCE_TIMEOUT_MS, bodyTimeout: SILENCE_TIMEOUT_MS }));
      this.dispatchers.set(key, agent);
    }
    return agent;
  }
}
