// Helpers for the networking tests: this daemon's iptables rules, the host's
// own address, HTTP from the host, and an httpd container that is serving.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import type { TestDaemon } from './daemon.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The prefix of the daemon's iptables chains (as config.ts derives it from the data root). */
export function chainTag(d: TestDaemon): string {
  return `BERTH-${createHash('sha256').update(d.dataRoot).digest('hex').slice(0, 8)}`;
}

/** Every rule of iptables-save that belongs to the daemon with this tag, counters dropped. */
export function ruleLines(tag: string): string[] {
  const out = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l.includes(tag)).map((l) => l.replace(/\[\d+:\d+\]/, ''));
}

/** A global IPv4 address of the host that is not one of a bridge's. */
export function hostAddress(): string {
  const links = JSON.parse(spawnSync('ip', ['-4', '-j', 'addr'], { encoding: 'utf8' }).stdout) as { ifname: string; addr_info: { local: string; scope: string }[] }[];
  for (const l of links) {
    if (l.ifname === 'lo' || /^(berth|br-|docker|veth|vn)/.test(l.ifname)) continue;
    const a = l.addr_info.find((x) => x.scope === 'global');
    if (a) return a.local;
  }
  throw new Error('no global IPv4 address on this host');
}

export function httpGet(host: string, port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout fetching http://${host}:${port}${path}`)));
    req.on('error', reject);
    req.end();
  });
}

export async function until(fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

/** Runs busybox httpd serving `body` as /index.html and waits until it answers. */
export function httpd(d: TestDaemon, name: string, body: string, args: string[] = [], image = 'busybox'): void {
  const r = d.berth(['run', '-d', '--name', name, ...args, image, 'sh', '-c', `mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p 80 -h /www`]);
  if (r.code !== 0) throw new Error(`httpd ${name}: ${r.stderr}`);
  for (let i = 0; i < 50; i++) {
    if (d.berth(['exec', name, 'wget', '-qO-', 'http://127.0.0.1/']).code === 0) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  throw new Error(`httpd ${name} did not answer`);
}
