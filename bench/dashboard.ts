// The dashboard in the browser (issue #18, Performance), headless Chromium
// (Debian's, via playwright-core) against a TestDaemon and `berth ui`:
//  1. The containers page with 200 containers: from navigation to all 200
//     rows shown, and to the first lifecycle button answering a click
//     (its request sent). Target: interactive in under 1 s.
//  2. The log view following a container that prints ~10,000 lines/s:
//     the page's frame times (requestAnimationFrame deltas) over a window,
//     and how many lines/s reach the view. Target: frames under 50 ms.
// There is no peer dashboard to run beside it: these are absolute figures,
// with the machine's load average at the time.
//
//   node_modules/.bin/node bench/dashboard.ts [rounds] [--window 10]
import { loadavg } from 'node:os';
import { startSeededDaemon } from '../test/helpers/daemon.ts';
import { launchBrowser, startUi, type PageDoc } from '../test/helpers/dashboard.ts';
import { median } from './measure.ts';

const ROUNDS = Number(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 5);
const wi = process.argv.indexOf('--window');
const WINDOW_S = wi > 0 ? Number(process.argv[wi + 1]) : 10;
const N = 200;

type Doc = PageDoc & { querySelectorAll(s: string): ArrayLike<unknown> & Iterable<{ textContent: string | null }> };

const d = await startSeededDaemon();
let ui;
const browser = await launchBrowser();
try {
  process.stdout.write(`creating ${N} containers…\n`);
  for (let i = 0; i < N; i++) {
    const r = d.berth(['create', '--network', 'none', '--name', `bench-${i}`, 'busybox', 'sleep', '3600']);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  for (let i = 0; i < 10; i++) d.berth(['start', `bench-${i}`]);
  ui = await startUi(d);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(ui.url);

  const rowsMs: number[] = [];
  const clickMs: number[] = [];
  const psMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // The same list through the CLI, interleaved: how much of the page's time is the daemon's answer.
    const p0 = performance.now();
    d.berth(['ps', '-a', '-q']);
    psMs.push(performance.now() - p0);
    await page.goto('about:blank');
    const t0 = performance.now();
    await page.goto(`${ui.origin}/#/containers`);
    await page.waitForFunction((n) => (globalThis as unknown as { document: Doc }).document.querySelectorAll('tr[data-name]').length >= n, N, { polling: 'raf', timeout: 60_000 });
    rowsMs.push(performance.now() - t0);
    // A click answered: the restart of a created container is sent.
    const sent = page.waitForRequest((q) => q.url().includes('/restart'));
    await page.getByRole('button', { name: `Restart bench-${N - 1}`, exact: true }).click();
    await sent;
    clickMs.push(performance.now() - t0);
  }
  const load1 = loadavg()[0].toFixed(2);
  process.stdout.write(`\ncontainers page, ${N} containers (${ROUNDS} rounds, load ${load1}):\n`);
  process.stdout.write(`  all rows shown     median ${median(rowsMs).toFixed(0)} ms  (${rowsMs.map((x) => x.toFixed(0)).join(', ')})\n`);
  process.stdout.write(`  first click sent   median ${median(clickMs).toFixed(0)} ms\n`);
  process.stdout.write(`  (berth ps -a, same rounds: median ${median(psMs).toFixed(0)} ms)\n`);

  // 2. A flood of log lines: 1000 numbered lines every 0.1 s.
  for (let i = 0; i < N; i++) d.berth(['rm', '-f', `bench-${i}`]);
  const run = d.berth(['run', '-d', '--network', 'none', '--name', 'flood', 'busybox', 'sh', '-c', 'i=0; while :; do seq $i $((i+999)); i=$((i+1000)); usleep 100000; done']);
  if (run.code !== 0) throw new Error(run.stderr);
  await page.goto(`${ui.origin}/#/containers/flood`);
  await page.waitForFunction(() => /\d+\n/.test((globalThis as unknown as { document: Doc }).document.querySelector('[data-testid=logs]')?.textContent ?? ''), undefined, { timeout: 30_000 });
  const result = await page.evaluate(async (windowS) => {
    const last = (): number => {
      const text = (globalThis as unknown as { document: Doc }).document.querySelector('[data-testid=logs]')?.textContent ?? '';
      return Number(/(\d+)\s*$/.exec(text)?.[1] ?? 0);
    };
    const raf = (globalThis as unknown as { requestAnimationFrame(cb: (t: number) => void): number }).requestAnimationFrame;
    const deltas: number[] = [];
    const first = last();
    const start = performance.now();
    await new Promise<void>((resolve) => {
      let prev = performance.now();
      const tick = (now: number): void => {
        deltas.push(now - prev);
        prev = now;
        if (now - start < windowS * 1000) raf(tick);
        else resolve();
      };
      raf(tick);
    });
    const seconds = (performance.now() - start) / 1000;
    deltas.sort((a, b) => a - b);
    return { frames: deltas.length, p50: deltas[Math.floor(deltas.length / 2)], p95: deltas[Math.floor(deltas.length * 0.95)], max: deltas[deltas.length - 1], linesPerS: (last() - first) / seconds };
  }, WINDOW_S);
  const produced = d.berth(['logs', 'flood']).stdout.split('\n').length;
  process.stdout.write(`\nlog view following ~10,000 lines/s (${WINDOW_S} s window, load ${loadavg()[0].toFixed(2)}):\n`);
  process.stdout.write(`  frames ${result.frames}: p50 ${result.p50.toFixed(1)} ms, p95 ${result.p95.toFixed(1)} ms, max ${result.max.toFixed(1)} ms\n`);
  process.stdout.write(`  lines reaching the view: ${result.linesPerS.toFixed(0)}/s (the container had logged ${produced} lines in all)\n`);
} finally {
  await browser.close();
  await ui?.stop();
  await d.destroy();
}
