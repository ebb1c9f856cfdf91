// `berth ui --no-open` against a TestDaemon, and Debian's headless Chromium
// driven by playwright-core (never a downloaded browser).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { BERTH, ROOT, type TestDaemon } from './daemon.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'test-artifacts/dashboard');

export interface UiServer {
  proc: ChildProcess;
  /** The URL printed, token included. */
  url: string;
  origin: string;
  stop(): Promise<void>;
}

/**
 * Starts `berth ui --no-open` for the daemon and waits for the address it
 * prints; `wrap` runs it under another command (`unshare …`, cold: a warm
 * CLI process would serve from outside the wrapper's namespaces).
 */
export function startUi(d: TestDaemon, extra: string[] = [], wrap: string[] = []): Promise<UiServer> {
  const args = ['-H', d.host, 'ui', '--no-open', ...extra];
  const proc = wrap.length
    ? spawn(wrap[0], [...wrap.slice(1), BERTH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_CLI_WARM: '0' } })
    : spawn(BERTH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`berth ui printed no address: ${out}${err}`)), 30_000);
    proc.stderr!.on('data', (c: Buffer) => { err += c; });
    proc.stdout!.on('data', (c: Buffer) => {
      out += c;
      const m = /(https?:\/\/\S+\/\?token=\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      const url = m[1];
      resolve({
        proc, url, origin: new URL(url).origin,
        stop: () => new Promise((ok) => {
          if (proc.exitCode !== null) return ok();
          proc.once('exit', () => ok());
          proc.kill('SIGTERM');
        }),
      });
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`berth ui exited ${code}: ${out}${err}`));
    });
  });
}

export async function launchBrowser(): Promise<Browser> {
  // As root, Chromium's sandbox cannot start; the pages it loads are the dashboard's own.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now ("id: target" lines). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  const found = await page.evaluate(async () => {
    const g = globalThis as unknown as { document: unknown; axe: { run(ctx: unknown, o: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } };
    const r = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The little of the DOM the tests' in-page functions read (the Node side has no DOM types). */
export interface PageDoc {
  querySelector(s: string): { textContent: string | null } | null;
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> & Iterable<{ textContent: string | null }>;
}

export const haveChromium = existsSync(CHROMIUM);
