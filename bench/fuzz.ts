// The long fuzz of every Engine API route (test/helpers/fuzz.ts says what a
// case is and what must hold), against a real daemon in a network namespace
// of its own. Prints, per route, the cases run and any failure with its
// fast-check seed and path; exits 1 when something failed.
//   node_modules/.bin/node bench/fuzz.ts [runsPerRoute]
// FUZZ_SEED, FUZZ_ROUTE (a substring of "METHOD /path"), FUZZ_PATH replay one
// failure. Clients go away on the export/archive/logs/get routes only with
// FUZZ_STREAM_ABORTS=1: that crashes the daemon (FileHandle closed during GC),
// a bug being fixed elsewhere.
import { startSeededDaemon } from '../test/helpers/daemon.ts';
import { cliState, fuzzParams, fuzzRoute, loadRoutes, makeFixtures, type RouteRun } from '../test/helpers/fuzz.ts';

const params = fuzzParams(Number(process.argv[2] ?? 200));
const { routes, definitions } = loadRoutes();
const chosen = routes.filter((r) => !params.route || r.key.includes(params.route));
process.stdout.write(`seed ${params.seed}, ${params.runs} cases per route, ${chosen.length} routes\n`);

const d = await startSeededDaemon([], { ownNetns: true });
const results: RouteRun[] = [];
try {
  const fx = await makeFixtures(d);
  const before = cliState(d);
  for (const r of chosen) {
    const res = await fuzzRoute(d, r, definitions, fx, { ...params, streamAborts: process.env.FUZZ_STREAM_ABORTS === '1' });
    results.push(res);
    process.stdout.write(`${res.failed ? 'FAIL' : 'ok  '} ${r.key.padEnd(45)} ${String(res.cases).padStart(6)} cases ${(res.ms / 1000).toFixed(1).padStart(7)} s\n`);
    if (res.accepted5xx) process.stdout.write(`     ${res.accepted5xx} answered 500 for an unreachable registry, e.g. ${res.sample5xx}\n`);
    if (res.failed) process.stdout.write(`${res.report}\n`);
    if (d.pid === undefined) break;
  }
  const after = cliState(d);
  if (after !== before) process.stdout.write(`FAIL the lists changed over the run:\nbefore:\n${before}\nafter:\n${after}\n`);
  const total = results.reduce((n, r) => n + r.cases, 0);
  process.stdout.write(`\n${results.length} routes fuzzed, ${total} cases (${(total / Math.max(1, results.length)).toFixed(0)} per route), ${results.filter((r) => r.failed).length} failed\n`);
  process.exitCode = results.some((r) => r.failed) || after !== before ? 1 : 0;
} finally {
  await d.destroy();
}
